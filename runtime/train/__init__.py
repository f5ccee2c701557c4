"""The training loop: epochs of shuffled mini-batches, each a forward pass, the losses and
penalties, a backward pass, clipping and one optimizer update; then validation, the schedule,
early stopping and a checkpoint.

Everything random comes from one generator, in a fixed order: the validation split, the
initial weights, then per epoch the shuffle and the dropout masks. Its state is part of every
checkpoint, so an interrupted run resumed from one continues bit-identically. A first Ctrl-C
finishes the current step and stops cleanly with a checkpoint; a second one aborts at once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from nnc.runtime.errors import RunError
from nnc.runtime.executor import Plan
from nnc.runtime.memory import retain_freed_memory
from nnc.runtime.metrics import CLASSIFICATION_METRICS, make_metric
from nnc.runtime.optim import add_penalties, clip_gradients, make_optimizer
from nnc.runtime.schedules import make_schedule

CLASSIFICATION_LOSSES = {"cross_entropy": "multiclass", "binary_cross_entropy": "binary"}
EVAL_BATCH = 1024  # inference batches: large for speed, bounded for memory


class Interrupted(Exception):
    """Raised after a Ctrl-C once the state at a step boundary has been checkpointed."""


class NonFinite(RunError):
    """The loss or a gradient became NaN or Inf; `layer` is the first layer whose output was."""

    def __init__(self, message: str, *, layer: str | None, help: str):
        super().__init__("E501", message, help=help, layer=layer)


@dataclass
class TrainState:
    """Where a run is. With `batch` > 0 the run stopped inside an epoch, whose shuffled order
    and running sums are kept so that resuming replays exactly the remaining batches."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer updates done
    batch: int = 0  # batches done in the current epoch
    order: np.ndarray | None = None  # the current epoch's sample order
    sums: dict = field(default_factory=dict)  # running loss and metric accumulators
    history: list = field(default_factory=list)  # one dict of logs per finished epoch
    best: float | None = None  # early stopping: the best monitored value
    best_epoch: int | None = None  # 1-based
    best_weights: dict | None = None
    wait: int = 0  # epochs since the best
    stopped_early: bool = False


class MetricSet:
    """The metrics the spec lists, bound to the loss terms they apply to. A metric is named
    plainly when it applies to one output, `<output>_<metric>` when to several."""

    def __init__(self, configs, losses):
        self.entries = []  # (name, metric, loss step)
        for config in configs:
            if config.name in CLASSIFICATION_METRICS:
                terms = [t for t in losses if t.op.name in CLASSIFICATION_LOSSES]
            else:
                # mae/mse/rmse measure regression outputs; on a classifier alone they compare
                # its probabilities with the one-hot target (mse is then the Brier score).
                terms = [t for t in losses if t.op.name not in CLASSIFICATION_LOSSES] or list(losses)
            if not terms:
                raise RunError("E502", f"metric `{config.name}` applies to none of the model's losses")
            for term in terms:
                kind = CLASSIFICATION_LOSSES.get(term.op.name, "regression")
                name = config.name if len(terms) == 1 else f"{term.prediction}_{config.name}"
                self.entries.append((name, make_metric(config, logits=term.logits, kind=kind), term))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.entries]

    def reset(self) -> None:
        for _, metric, _ in self.entries:
            metric.reset()

    def update(self, values: Mapping, feeds: Mapping) -> None:
        for _, metric, term in self.entries:
            metric.update(values[term.prediction], term.target_of(values, feeds))

    def results(self, prefix: str = "") -> dict[str, float]:
        return {prefix + name: float(metric.result()) for name, metric, _ in self.entries}

    def state(self) -> list[dict]:
        return [metric.state() for _, metric, _ in self.entries]

    def load_state(self, states: list[dict]) -> None:
        for (_, metric, _), state in zip(self.entries, states, strict=True):
            metric.load_state(state)


def batch_slices(n: int, batch_size: int) -> list[slice]:
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def take(arrays: Mapping[str, np.ndarray], index) -> dict[str, np.ndarray]:
    return {name: array[index] for name, array in arrays.items()}


class Trainer:
    """Trains `plan` on `train` (a mapping of input and target arrays), validating on
    `validation` after each epoch. `config` is the IR's TrainConfig. Hooks: `on_step(state,
    batch, batches, loss)`, `on_epoch(state, logs, seconds)` (after the state is final for the
    epoch: the caller checkpoints there) and `on_interrupt(state)`."""

    def __init__(self, plan: Plan, config, train: Mapping, validation: Mapping | None, rng):
        self.plan = plan
        self.config = config
        self.train = train
        self.validation = validation
        self.rng = rng
        self.n = len(next(iter(train.values())))
        self.optimizer = make_optimizer(config.optimizer, plan.params.flat.size)
        self.base_lr = config.optimizer.params["lr"]
        self.schedule = make_schedule(config.optimizer.params.get("schedule"), self.base_lr)
        self.penalties = plan.params.penalty_segments(config.l1, config.l2)
        self.metrics = MetricSet(config.metrics, plan.losses)
        self.state = TrainState()
        self.stop_requested = False

    # ---- the loop -----------------------------------------------------------------------
    def fit(self, on_step: Callable = None, on_epoch: Callable = None, on_interrupt: Callable = None):
        retain_freed_memory()  # steps reuse their memory instead of page-faulting it back in
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._request_stop)
        try:
            # Overflow is caught by _check_finite, located; NumPy's warnings would only add noise.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self._loop(on_step, on_epoch, on_interrupt)
        finally:
            signal.signal(signal.SIGINT, previous)
        return self.state

    def _loop(self, on_step, on_epoch, on_interrupt) -> None:
        state, config = self.state, self.config
        while state.epoch < config.epochs and not state.stopped_early:
            started = time.perf_counter()
            logs = self._epoch(on_step)
            if logs is None:  # Ctrl-C inside the epoch
                if on_interrupt:
                    on_interrupt(state)
                raise Interrupted()
            self._end_epoch(logs)
            if on_epoch:
                on_epoch(state, logs, time.perf_counter() - started)
            if self.stop_requested:
                if on_interrupt:
                    on_interrupt(state)
                raise Interrupted()

    def restore_best(self) -> bool:
        """Early stopping's best weights back in place when the spec asks for them, whether or
        not stopping triggered. Called after the final checkpoint, which keeps the last ones."""
        stopping, best = self.config.early_stopping, self.state.best_weights
        if stopping is None or not stopping.restore_best or best is None:
            return False
        self.plan.params.load(best, path="best weights")
        return True

    def _request_stop(self, signum, frame) -> None:
        if self.stop_requested:  # a second Ctrl-C: the user does not want to wait
            raise KeyboardInterrupt
        self.stop_requested = True

    def _epoch(self, on_step) -> dict | None:
        state, config, params = self.state, self.config, self.plan.params
        if state.order is None:
            state.order = self.rng.permutation(self.n) if config.shuffle else np.arange(self.n)
            state.sums = {"loss": 0.0, "seen": 0}
            self.metrics.reset()
        slices = batch_slices(self.n, config.batch_size)
        lr = self.schedule.lr(state.epoch)
        clip_norm = config.optimizer.params.get("clip_norm")
        clip_value = config.optimizer.params.get("clip_value")
        for b in range(state.batch, len(slices)):
            if self.stop_requested:
                return None
            feeds = take(self.train, state.order[slices[b]])
            result = self.plan.gradients(feeds, self.rng)
            penalty = add_penalties(params.flat, params.grad, self.penalties) if self.penalties else 0.0
            loss = result.loss + penalty
            self._check_finite(loss, result.values, b, len(slices))
            if clip_norm is not None or clip_value is not None:
                clip_gradients(params.grad, clip_norm=clip_norm, clip_value=clip_value)
            self.optimizer.step(params.flat, params.grad, lr)
            rows = slices[b].stop - slices[b].start
            state.sums["loss"] += loss * rows
            state.sums["seen"] += rows
            self.metrics.update(result.values, feeds)
            state.step += 1
            state.batch = b + 1
            if on_step:
                on_step(state, b + 1, len(slices), loss)
        logs = {"epoch": state.epoch + 1, "loss": state.sums["loss"] / state.sums["seen"]}
        logs.update(self.metrics.results())
        if self.validation is not None:
            logs.update(self.evaluate(self.validation, prefix="val_"))
        logs["lr"] = lr
        return logs

    def _check_finite(self, loss: float, values: Mapping, batch: int, batches: int) -> None:
        where = f"epoch {self.state.epoch + 1}, step {self.state.step + 1} (batch {batch + 1} of {batches})"
        help = "lower the learning rate, add clip_norm= to the optimizer, or standardize the inputs"
        if not np.isfinite(loss):
            step = self.plan.first_non_finite(values)
            culprit = (
                f"; the first non-finite value came from layer `{step.name}` ({step.op.name})"
                if step
                else "; every layer output was finite, so the loss itself overflowed"
            )
            raise NonFinite(
                f"the loss became {loss} at {where}{culprit}", layer=step and step.name, help=help
            )
        grad = self.plan.params.grad
        if not np.isfinite(np.dot(grad, grad)):
            raise NonFinite(f"a gradient became non-finite at {where}", layer=None, help=help)

    def _end_epoch(self, logs: dict) -> None:
        state, stopping = self.state, self.config.early_stopping
        self.schedule.observe(state.epoch, logs)
        state.epoch += 1
        state.batch = 0
        state.order = None
        state.history.append(logs)
        if stopping is None:
            return
        value = logs[stopping.monitor]
        if state.best is None or (
            value < state.best - stopping.min_delta
            if stopping.mode == "min"
            else value > state.best + stopping.min_delta
        ):
            state.best, state.best_epoch, state.wait = value, state.epoch, 0
            if stopping.restore_best:
                state.best_weights = self.plan.params.to_dict()
        else:
            state.wait += 1
            if state.wait >= stopping.patience:
                state.stopped_early = True

    # ---- evaluation ---------------------------------------------------------------------
    def evaluate(self, data: Mapping, prefix: str = "") -> dict[str, float]:
        return evaluate(self.plan, data, self.metrics, prefix)[0]


def evaluate(plan: Plan, data: Mapping, metrics: MetricSet, prefix: str = "", keep=()) -> tuple[dict, dict]:
    """Loss and metrics over a whole data set, in inference mode and in large batches; the
    loss is the sample-weighted mean of batch means. The weight penalties are part of the
    training loss (they are what is minimized) but not of this one, which measures the fit.
    Also returns the values named in `keep`, over the whole set, from the same pass."""
    n = len(next(iter(data.values())))
    metrics.reset()
    total = 0.0
    kept = {name: [] for name in keep}
    for part in batch_slices(n, EVAL_BATCH):
        feeds = take(data, part)
        result = plan.evaluate(feeds)
        total += result.loss * (part.stop - part.start)
        metrics.update(result.values, feeds)
        for name in keep:
            kept[name].append(result.values[name])
    logs = {prefix + "loss": total / n}
    logs.update(metrics.results(prefix))
    return logs, {name: np.concatenate(parts) for name, parts in kept.items()}
