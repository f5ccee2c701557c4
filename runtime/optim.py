"""Optimizers the spec can name, with their hyperparameters and defaults (those of PyTorch,
which Keras shares but for epsilon). Every optimizer also takes the gradient-clipping and
schedule arguments below.

An optimizer updates ONE flat float32 buffer p holding every trainable parameter, in place,
from its flat gradient g. One training step, in this order:
    value = add_penalties(p, g, segments)   # g += dR/dp for the l1/l2 penalties R
    norm = clip_gradients(g, clip_norm=..., clip_value=...)
    optimizer.step(p, g, schedule.lr(epoch))
The update rules are PyTorch's (torch.optim, as implemented), with t the step count from 1,
lr the scheduled learning rate and wd the weight decay; every rule first sets g += wd p,
except adamw, which decays p instead:
    sgd:     b = mu b + g;  d = g + mu b (nesterov), b (momentum > 0) or g;  p -= lr d
    adam:    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  (amsgrad: v_max = max(v_max, v))
             p -= lr / (1 - b1^t) * m / (sqrt(v or v_max) / sqrt(1 - b2^t) + eps)
    adamw:   p *= 1 - lr wd, then adam without the L2 term
    rmsprop: v = rho v + (1 - rho) g^2;  centered: a = rho a + (1 - rho) g, v~ = v - a^2;
             s = sqrt(v~ or v) + eps;  momentum: b = mu b + g / s, p -= lr b;  else p -= lr g / s
    adagrad: v += g^2 (v starts at initial_accumulator);  p -= lr g / (sqrt(v) + eps)
NOTE: amsgrad keeps the maximum of the raw v and bias-corrects it with the current step, as
PyTorch's code does (its older docs show the maximum of the corrected v instead)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from nnc.runtime import threads
from nnc.runtime.schedules import SCHEDULES
from nnc.runtime.schema import Arg, Bool, Float, Named, Optional, Signature, Table

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

DEFAULT_OPTIMIZER = "adam"  # when a spec names none
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


class Optimizer(ABC):
    """The state shared by every rule: the step count t and float32 buffers of the parameter
    buffer's size, plus one scratch buffer (not state) so that a step allocates nothing.
    `step` may overwrite `grads` (the weight-decay term is added into it)."""

    def __init__(self, size: int, buffers: dict[str, float]):
        self.t = 0
        self.buffers = {name: np.full(size, value, np.float32) for name, value in buffers.items()}
        self._scratch = np.empty(size, np.float32)

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> None:
        """One update of `params` in place, with learning rate `lr` (the schedule's). Every
        rule works entry by entry, so the buffers are updated piece by piece on every thread
        (runtime/threads.py): the same values, on all cores."""
        self.t += 1

        def piece(start: int, stop: int) -> None:
            part = slice(start, stop)
            buffers = {name: buffer[part] for name, buffer in self.buffers.items()}
            self._update(params[part], grads[part], lr, buffers, self._scratch[part])

        threads.split(len(params), 1, piece)

    @abstractmethod
    def _update(self, params, grads, lr: float, buffers: dict[str, np.ndarray], s: np.ndarray) -> None:
        """The rule itself, on one piece of the buffers (`buffers` the state's, `s` scratch);
        `self.t` is already the number of this step."""

    @staticmethod
    def _add_scaled(y: np.ndarray, a: float, x: np.ndarray, s: np.ndarray) -> None:
        """y += a * x without a temporary (s is scratch)."""
        np.multiply(x, a, out=s)
        y += s

    def state(self) -> dict[str, np.ndarray]:
        """Copies of everything a resumed run needs to continue bit for bit."""
        return {"step": np.array(self.t, np.int64), **{k: v.copy() for k, v in self.buffers.items()}}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        expected = {"step": (), **{k: v.shape for k, v in self.buffers.items()}}
        if set(state) != set(expected):
            raise ValueError(
                f"optimizer state does not fit {type(self).__name__}: expected entries "
                f"{sorted(expected)}. Received: {sorted(state)}"
            )
        for name, shape in expected.items():
            value = np.asarray(state[name])
            if value.shape != shape:
                raise ValueError(
                    f"optimizer state `{name}` should have shape {shape}. Received: {value.shape}; "
                    "was it saved for a different model?"
                )
        self.t = int(state["step"])
        for name, buffer in self.buffers.items():
            buffer[...] = state[name]


def optimizer_problem(config: Named) -> tuple[str, str, str] | None:
    """(argument, why, help) when an optimizer's arguments, each valid alone, cannot go
    together; None when they can. The compiler reports it at the argument, and make_optimizer
    refuses it."""
    if config.name == "sgd" and config.params["nesterov"] and config.params["momentum"] == 0:
        why = "sgd with nesterov=true needs momentum > 0. Received: momentum=0"
        return "nesterov", why, "set momentum=0.9, or leave out nesterov"
    return None


class SGD(Optimizer):
    def __init__(self, size: int, *, momentum: float, nesterov: bool, weight_decay: float):
        super().__init__(size, {"momentum": 0.0} if momentum else {})
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _update(self, params, grads, lr, buffers, s):
        if self.weight_decay:
            self._add_scaled(grads, self.weight_decay, params, s)
        if self.momentum:
            # b starts at 0, so the first step gives b = g, as PyTorch's first-step special case
            b = buffers["momentum"]
            b *= self.momentum
            b += grads
            if self.nesterov:
                self._add_scaled(grads, self.momentum, b, s)
            else:
                grads = b
        self._add_scaled(params, -lr, grads, s)


class Adam(Optimizer):
    """Adam; `decoupled=True` makes it AdamW."""

    def __init__(
        self,
        size: int,
        *,
        beta1: float,
        beta2: float,
        epsilon: float,
        weight_decay: float,
        amsgrad: bool,
        decoupled: bool,
    ):
        super().__init__(size, {"m": 0.0, "v": 0.0, **({"v_max": 0.0} if amsgrad else {})})
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.weight_decay, self.amsgrad, self.decoupled = weight_decay, amsgrad, decoupled

    def _update(self, params, grads, lr, buffers, s):
        m, v = buffers["m"], buffers["v"]
        if self.weight_decay and self.decoupled:
            params *= 1.0 - lr * self.weight_decay
        elif self.weight_decay:
            self._add_scaled(grads, self.weight_decay, params, s)
        m *= self.beta1
        self._add_scaled(m, 1.0 - self.beta1, grads, s)
        v *= self.beta2
        np.multiply(grads, grads, out=s)
        s *= 1.0 - self.beta2
        v += s
        if self.amsgrad:
            v = np.maximum(buffers["v_max"], v, out=buffers["v_max"])
        # lr / c1 * m / (sqrt(v) / c2 + eps) with c1 = 1 - b1^t and c2 = sqrt(1 - b2^t), written
        # as (lr c2 / c1) * m / (sqrt(v) + eps c2): the same value with one pass fewer over the
        # buffers (a pass is about 2% of the MLP reference step)
        c2 = math.sqrt(1.0 - self.beta2**self.t)
        np.sqrt(v, out=s)
        s += self.epsilon * c2
        np.divide(m, s, out=s)
        s *= lr * c2 / (1.0 - self.beta1**self.t)
        params -= s


class RMSprop(Optimizer):
    def __init__(
        self, size: int, *, rho: float, momentum: float, epsilon: float, centered: bool, weight_decay: float
    ):
        names = ["v"] + ["mean"] * centered + ["momentum"] * (momentum > 0)
        super().__init__(size, dict.fromkeys(names, 0.0))
        self.rho, self.momentum, self.epsilon = rho, momentum, epsilon
        self.centered, self.weight_decay = centered, weight_decay

    def _update(self, params, grads, lr, buffers, s):
        v = buffers["v"]
        if self.weight_decay:
            self._add_scaled(grads, self.weight_decay, params, s)
        v *= self.rho
        np.multiply(grads, grads, out=s)
        s *= 1.0 - self.rho
        v += s
        if self.centered:
            mean = buffers["mean"]
            mean *= self.rho
            self._add_scaled(mean, 1.0 - self.rho, grads, s)
            np.multiply(mean, mean, out=s)
            np.subtract(v, s, out=s)
            # NOTE: v >= mean^2 in exact arithmetic; rounding can dip below 0, where sqrt is nan
            np.maximum(s, 0.0, out=s)
            np.sqrt(s, out=s)
        else:
            np.sqrt(v, out=s)
        s += self.epsilon
        np.divide(grads, s, out=s)  # s = g / (sqrt(v~) + eps)
        if self.momentum:
            b = buffers["momentum"]
            b *= self.momentum
            b += s
            np.multiply(b, lr, out=s)
        else:
            s *= lr
        params -= s


class Adagrad(Optimizer):
    def __init__(self, size: int, *, initial_accumulator: float, epsilon: float, weight_decay: float):
        super().__init__(size, {"sum": initial_accumulator})
        self.epsilon, self.weight_decay = epsilon, weight_decay

    def _update(self, params, grads, lr, buffers, s):
        total = buffers["sum"]
        if self.weight_decay:
            self._add_scaled(grads, self.weight_decay, params, s)
        np.multiply(grads, grads, out=s)
        total += s
        np.sqrt(total, out=s)
        s += self.epsilon
        np.divide(grads, s, out=s)
        s *= lr
        params -= s


def make_optimizer(config: Named, size: int) -> Optimizer:
    """The optimizer `config` names (every argument bound) for a parameter buffer of `size`
    entries. lr, the clipping and the schedule arguments are the caller's: see the module
    docstring."""
    if (problem := optimizer_problem(config)) is not None:
        raise ValueError(problem[1])
    p = config.params
    if config.name == "sgd":
        return SGD(size, momentum=p["momentum"], nesterov=p["nesterov"], weight_decay=p["weight_decay"])
    if config.name in ("adam", "adamw"):
        return Adam(
            size,
            beta1=p["beta1"],
            beta2=p["beta2"],
            epsilon=p["epsilon"],
            weight_decay=p["weight_decay"],
            amsgrad=p["amsgrad"],
            decoupled=config.name == "adamw",
        )
    if config.name == "rmsprop":
        return RMSprop(
            size,
            rho=p["rho"],
            momentum=p["momentum"],
            epsilon=p["epsilon"],
            centered=p["centered"],
            weight_decay=p["weight_decay"],
        )
    if config.name == "adagrad":
        return Adagrad(
            size,
            initial_accumulator=p["initial_accumulator"],
            epsilon=p["epsilon"],
            weight_decay=p["weight_decay"],
        )
    raise ValueError(f"unknown optimizer `{config.name}`. Expected one of: {', '.join(OPTIMIZERS)}")


def clip_gradients(grads: np.ndarray, *, clip_norm: float | None, clip_value: float | None) -> float:
    """Clip `grads` in place and return its global L2 norm as given (before any clipping).

    clip_value first: every entry to [-clip_value, clip_value]; then clip_norm, on the clipped
    gradient's norm n, as torch.nn.utils.clip_grad_norm_: g *= c / (n + 1e-6) when that factor
    is below 1. Rescaling last keeps the direction it hands to the optimizer, and both bounds
    hold at the end (rescaling by a factor <= 1 cannot break the value bound). A non-finite
    norm is returned as is (and makes clip_norm produce nan): the caller decides what to do."""
    norm = math.sqrt(float(np.dot(grads, grads)))
    if clip_value is not None:
        np.clip(grads, -clip_value, clip_value, out=grads)
    if clip_norm is not None:
        clipped = norm if clip_value is None else math.sqrt(float(np.dot(grads, grads)))
        factor = clip_norm / (clipped + 1e-6)
        if factor < 1.0:
            grads *= factor
    return norm


def add_penalties(
    params: np.ndarray, grads: np.ndarray, segments: Sequence[tuple[int, int, float, float]]
) -> float:
    """For each (start, stop, l1, l2) slice w of the flat buffers, add the penalty's gradient
    l1 sign(w) + 2 l2 w to the slice of `grads` in place, and return the total penalty
    sum over slices of l1 sum|w| + l2 sum w^2 (Keras's convention: no 1/2), summed in float64.
    sign(0) = 0, the subgradient Keras and PyTorch use."""
    total = 0.0
    for start, stop, l1, l2 in segments:
        w, g = params[start:stop], grads[start:stop]
        if l1:
            total += l1 * float(np.abs(w).sum(dtype=np.float64))
            g += l1 * np.sign(w)
        if l2:
            total += l2 * float(np.square(w, dtype=np.float64).sum())
            g += (2.0 * l2) * w
    return total
