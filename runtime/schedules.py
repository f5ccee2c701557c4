"""Learning-rate schedules, stepped once per epoch. Every schedule takes `warmup`: that many
epochs of linear warm-up from `lr * warmup_start` before the schedule proper begins."""

from __future__ import annotations

from nnc.runtime.schema import Arg, Choice, Float, Int, Signature

_WARMUP = (
    Arg("warmup", Int(0), 0, "epochs of linear warm-up"),
    Arg("warmup_start", Float(0, 1), 0.0, "fraction of lr at the first warm-up epoch"),
)

SCHEDULES: dict[str, Signature] = {
    "constant": Signature("constant", _WARMUP, "lr stays fixed (after any warm-up)"),
    "step": Signature(
        "step",
        (Arg("step_size", Int(1)), Arg("gamma", Float(0, 1, min_open=True), 0.1), *_WARMUP),
        "lr * gamma every step_size epochs",
    ),
    "exponential": Signature(
        "exponential", (Arg("gamma", Float(0, 1, min_open=True)), *_WARMUP), "lr * gamma^epoch"
    ),
    "cosine": Signature(
        "cosine",
        (Arg("t_max", Int(1)), Arg("min_lr", Float(0), 0.0), *_WARMUP),
        "cosine annealing from lr to min_lr over t_max epochs",
    ),
    "reduce_on_plateau": Signature(
        "reduce_on_plateau",
        (
            Arg("monitor", Choice(("loss", "val_loss")), "val_loss"),
            Arg("factor", Float(0, 1, min_open=True, max_open=True), 0.1),
            Arg("patience", Int(0), 10),
            Arg("min_delta", Float(0), 1e-4),
            Arg("min_lr", Float(0), 0.0),
            *_WARMUP,
        ),
        "lr * factor when the monitored loss has not improved for `patience` epochs",
    ),
}
