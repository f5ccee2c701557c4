"""Optimizers the spec can name, with their hyperparameters and defaults (those of PyTorch,
which Keras shares but for epsilon). Every optimizer also takes the gradient-clipping and
schedule arguments below."""

from __future__ import annotations

from nnc.runtime.schedules import SCHEDULES
from nnc.runtime.schema import Arg, Bool, Float, Optional, Signature, Table

_LR = Arg("lr", Float(0, min_open=True), 0.001, "learning rate")
_DECAY = Arg("weight_decay", Float(0), 0.0, "L2 penalty added to the gradient (decoupled in adamw)")
_COMMON = (
    Arg(
        "clip_norm",
        Optional(Float(0, min_open=True)),
        None,
        "rescale gradients whose global L2 norm exceeds this",
    ),
    Arg("clip_value", Optional(Float(0, min_open=True)), None, "clip every gradient entry to [-v, v]"),
    Arg("schedule", Table("schedule", SCHEDULES), None, "learning-rate schedule"),
)
_BETAS = (
    Arg("beta1", Float(0, 1, max_open=True), 0.9),
    Arg("beta2", Float(0, 1, max_open=True), 0.999),
    Arg("epsilon", Float(0, min_open=True), 1e-8),
)

OPTIMIZERS: dict[str, Signature] = {
    "sgd": Signature(
        "sgd",
        (
            Arg("lr", Float(0, min_open=True), 0.01, "learning rate"),
            Arg("momentum", Float(0, 1, max_open=True), 0.0),
            Arg("nesterov", Bool(), False),
            _DECAY,
            *_COMMON,
        ),
        "stochastic gradient descent, optionally with (Nesterov) momentum",
    ),
    "adam": Signature("adam", (_LR, *_BETAS, _DECAY, Arg("amsgrad", Bool(), False), *_COMMON), "Adam"),
    "adamw": Signature(
        "adamw",
        (_LR, *_BETAS, Arg("weight_decay", Float(0), 0.01), Arg("amsgrad", Bool(), False), *_COMMON),
        "Adam with decoupled weight decay",
    ),
    "rmsprop": Signature(
        "rmsprop",
        (
            Arg("lr", Float(0, min_open=True), 0.01, "learning rate"),
            Arg("rho", Float(0, 1, max_open=True), 0.99, "decay of the squared-gradient average"),
            Arg("momentum", Float(0, 1, max_open=True), 0.0),
            Arg("epsilon", Float(0, min_open=True), 1e-8),
            Arg("centered", Bool(), False),
            _DECAY,
            *_COMMON,
        ),
        "RMSprop",
    ),
    "adagrad": Signature(
        "adagrad",
        (
            Arg("lr", Float(0, min_open=True), 0.01, "learning rate"),
            Arg("initial_accumulator", Float(0), 0.0),
            Arg("epsilon", Float(0, min_open=True), 1e-10),
            _DECAY,
            *_COMMON,
        ),
        "Adagrad",
    ),
}
