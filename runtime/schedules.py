"""Learning-rate schedules, stepped once per epoch. Every schedule takes `warmup`: that many
epochs of linear warm-up from `lr * warmup_start` before the schedule proper begins.

The lr used during epoch e (0-based), with W = warmup, s = warmup_start:
    e < W:  lr * (s + (1 - s) e / W)          (lr * s at e = 0, rising towards lr)
    e >= W: the schedule proper at its own epoch k = e - W, so it starts from lr at k = 0:
        constant:          lr
        step:              lr * gamma^floor(k / step_size)
        exponential:       lr * gamma^k
        cosine:            min_lr + (lr - min_lr) (1 + cos(pi min(k, t_max) / t_max)) / 2
        reduce_on_plateau: PyTorch's ReduceLROnPlateau in mode min with an absolute threshold:
            after each epoch k, the monitored loss x improves when x < best - min_delta; after
            more than `patience` epochs in a row without improvement the lr becomes
            max(lr * factor, min_lr) and the count restarts. Warm-up epochs are not observed."""

from __future__ import annotations

import math

from nnc.runtime.schema import Arg, Choice, Float, Int, Named, Signature

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


# name -> lr of the schedule proper at its epoch k; p holds the bound arguments
_CURVES = {
    "constant": lambda lr, k, p: lr,
    "step": lambda lr, k, p: lr * p["gamma"] ** (k // p["step_size"]),
    "exponential": lambda lr, k, p: lr * p["gamma"] ** k,
    "cosine": lambda lr, k, p: (
        p["min_lr"] + (lr - p["min_lr"]) * (1 + math.cos(math.pi * min(k, p["t_max"]) / p["t_max"])) / 2
    ),
}


class Schedule:
    """A schedule whose lr is a function of the epoch alone (every one but reduce_on_plateau)."""

    def __init__(self, name: str, params: dict, base_lr: float):
        self.name, self.params, self.base_lr = name, params, base_lr
        self.warmup, self.warmup_start = params.get("warmup", 0), params.get("warmup_start", 0.0)

    def lr(self, epoch: int) -> float:
        """The learning rate to use during `epoch` (0-based)."""
        if epoch < self.warmup:
            return self.base_lr * (self.warmup_start + (1.0 - self.warmup_start) * epoch / self.warmup)
        return self._after_warmup(epoch - self.warmup)

    def _after_warmup(self, k: int) -> float:
        return _CURVES[self.name](self.base_lr, k, self.params)

    def observe(self, epoch: int, logs: dict[str, float]) -> None:
        """Called at the end of each epoch with its losses; only reduce_on_plateau reads them."""

    def state(self) -> dict[str, float | int | None]:
        """What a resumed run needs (JSON-serialisable): nothing for a function of the epoch."""
        return {}

    def load_state(self, state: dict) -> None:
        expected = self.state()
        if set(state) != set(expected):
            raise ValueError(
                f"schedule state does not fit `{self.name}`: expected entries {sorted(expected)}. "
                f"Received: {sorted(state)}"
            )
        self._load(state)

    def _load(self, state: dict) -> None:
        pass


class ReduceOnPlateau(Schedule):
    # PyTorch's eps: a reduction smaller than this is skipped (the lr is already at min_lr)
    _EPS = 1e-8

    def __init__(self, params: dict, base_lr: float):
        super().__init__("reduce_on_plateau", params, base_lr)
        self.current = base_lr
        self.best: float | None = None  # None until the first observation (JSON has no inf)
        self.bad_epochs = 0

    def _after_warmup(self, k: int) -> float:
        return self.current

    def observe(self, epoch: int, logs: dict[str, float]) -> None:
        monitor = self.params["monitor"]
        if monitor not in logs:
            raise ValueError(
                f"reduce_on_plateau monitors `{monitor}`, which this epoch did not report. "
                f"Received: {', '.join(sorted(logs)) or 'nothing'}"
            )
        if epoch < self.warmup:
            return
        value = float(logs[monitor])
        if self.best is None or value < self.best - self.params["min_delta"]:
            self.best, self.bad_epochs = value, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.params["patience"]:
            reduced = max(self.current * self.params["factor"], self.params["min_lr"])
            if self.current - reduced > self._EPS:
                self.current = reduced
            self.bad_epochs = 0

    def state(self) -> dict[str, float | int | None]:
        return {"lr": self.current, "best": self.best, "bad_epochs": self.bad_epochs}

    def _load(self, state: dict) -> None:
        self.current = float(state["lr"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])


def make_schedule(config: Named | None, base_lr: float) -> Schedule:
    """The schedule `config` names (every argument bound), or a constant lr when it is None."""
    if config is None:
        return Schedule("constant", {}, base_lr)
    if config.name == "reduce_on_plateau":
        return ReduceOnPlateau(dict(config.params), base_lr)
    if config.name not in _CURVES:
        raise ValueError(f"unknown schedule `{config.name}`. Expected one of: {', '.join(SCHEDULES)}")
    return Schedule(config.name, dict(config.params), base_lr)
