"""The training loop: epochs of shuffled mini-batches, each a forward pass, the losses and
penalties, a backward pass, clipping and one optimizer update; then validation. Everything
else happens in listeners (runtime/train/callbacks.py), told of each event in list order.

Everything random comes from one generator, in a fixed order: the validation split, the
initial weights, then per epoch the shuffle and the dropout masks. Its state is part of every
checkpoint, so an interrupted run resumed from one continues bit-identically. A first Ctrl-C
finishes the current step, ends training (listeners checkpoint it) and raises Interrupted; a
second one aborts at once."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import numpy as np
from nnc.runtime.errors import RunError
from nnc.runtime.executor import Plan
from nnc.runtime.memory import retain_freed_memory
from nnc.runtime.optim import add_penalties, clip_gradients, make_optimizer
from nnc.runtime.train.callbacks import Callback
from nnc.runtime.train.evaluate import EVAL_BATCH, MetricSet, batch_slices, evaluate, take
from nnc.runtime.train.state import TrainState


@contextmanager
def interrupts_held():
    """A Ctrl-C during the block waits for its end: what the block writes is written whole.
    Nothing is lost by ignoring it then: the block finishes the work the user asked for."""
    with sigint_handled(signal.SIG_IGN):
        yield


@contextmanager
def sigint_handled(handler):
    """SIGINT goes to `handler` during the block. Only the main thread may set it: a fit in
    another thread (a Ray Tune trial, a server's worker) leaves Ctrl-C to the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Interrupted(KeyboardInterrupt):
    """Raised after a Ctrl-C, once the listeners have seen training end at a step boundary (and
    checkpointed it). A KeyboardInterrupt, so that `except Exception` does not swallow it."""


class NonFinite(RunError):
    """The loss or a gradient became NaN or Inf; `layer` is the first layer whose output was."""

    def __init__(self, message: str, *, layer: str | None, help: str):
        super().__init__("E501", message, help=help, layer=layer)


class Trainer:
    """Trains `plan` on `train` (a mapping of input and target arrays), validating on
    `validation` after each epoch. `config` is the IR's TrainConfig."""

    def __init__(
        self,
        plan: Plan,
        config,
        train: Mapping,
        validation: Mapping | None,
        rng: np.random.Generator,
        callbacks: Sequence[Callback] = (),
    ):
        self.plan = plan
        self.config = config
        self.train = train
        self.validation = validation
        self.rng = rng
        self.callbacks = tuple(callbacks)
        for callback in self.callbacks:
            callback.trainer = self
        self.n = len(next(iter(train.values())))
        self.optimizer = make_optimizer(config.optimizer, plan.params.flat.size)
        self.lr = config.optimizer.params["lr"]  # listeners may change it (a schedule does)
        self.penalties = plan.params.penalty_segments(config.l1, config.l2)
        self.metrics = MetricSet(config.metrics, plan.losses)
        self.state = TrainState()
        self.stop_reason: str | None = None
        self.interrupted = False
        self.started: float | None = None  # when fit began

    # ---- what listeners call ------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Ends training after the current step (or, called at an epoch's end, before the next
        epoch). `reason` completes the run's last line: "stopped early at epoch 7 ..."."""
        self.stop_reason = reason

    def seconds(self) -> float:
        """Time spent training, over every part of a resumed run."""
        running = time.perf_counter() - self.started if self.started is not None else 0.0
        return self.state.seconds + running

    def end_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        if self.steps_done():
            return f"finished {self.state.step} of {self.config.max_steps} steps"
        return f"finished {self.state.epoch} of {self.config.epochs} epochs"

    def steps_done(self) -> bool:
        """Whether the step limit (train.max_steps, --steps) is reached."""
        return self.config.max_steps is not None and self.state.step >= self.config.max_steps

    def checkpoint_state(self) -> tuple[dict, dict]:
        """(JSON values, arrays) of everything but the weights: the loop's state, the optimizer,
        the generator, the metrics' running sums, and each listener's."""
        meta, arrays = self.state.checkpoint_state()
        meta["seconds"] = self.seconds()
        meta.update(
            stopped_early=self.stop_reason is not None,
            stop_reason=self.stop_reason,
            rng=self.rng.bit_generator.state,
            metrics=self.metrics.state(),
        )
        arrays.update({f"optimizer:{k}": v for k, v in self.optimizer.state().items()})
        for callback in self.callbacks:
            more, more_arrays = callback.checkpoint_state()
            meta.update(more)
            arrays.update(more_arrays)
        return meta, arrays

    def restore_state(self, weights: dict, meta: dict, arrays: dict) -> None:
        self.plan.params.load(weights, path="checkpoint.npz")
        self.state.restore_state(meta, arrays)
        # (checkpoints before stop_reason was kept say only whether training stopped early)
        self.stop_reason = meta.get("stop_reason") or ("stopped early" if meta["stopped_early"] else None)
        prefix = "optimizer:"
        self.optimizer.load_state(
            {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
        )
        self.rng.bit_generator.state = meta["rng"]
        self.metrics.load_state(meta["metrics"])
        for callback in self.callbacks:
            callback.restore_state(meta, arrays)

    # ---- the loop -----------------------------------------------------------------------
    def fit(self) -> TrainState:
        self.started = time.perf_counter()
        retain_freed_memory()  # steps reuse their memory instead of page-faulting it back in
        # Overflow is caught by _check_finite, located; NumPy's warnings would only add noise.
        with sigint_handled(self._interrupt), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self._loop()
        if self.interrupted:
            raise Interrupted()
        return self.state

    def _loop(self) -> None:
        state = self.state
        self._tell("on_train_begin", {})
        while (
            state.epoch < self.config.epochs
            and self.stop_reason is None
            and not self.interrupted
            and not self.steps_done()
        ):
            started = time.perf_counter()
            self._tell("on_epoch_begin", state.epoch, {})
            logs = self._epoch()
            if logs is None:  # stopped inside the epoch
                break
            state.epoch += 1
            state.batch = 0
            state.order = None
            logs["seconds"] = round(time.perf_counter() - started, 3)
            state.history.append(logs)
            self._tell("on_epoch_end", state.epoch - 1, logs)
        self._tell("on_train_end", dict(state.history[-1]) if state.history else {})

    def _tell(self, event: str, *args) -> None:
        for callback in self.callbacks:
            try:
                getattr(callback, event)(*args)
            except Exception:
                if event in ("on_batch_end", "on_epoch_end"):  # at a step boundary: consistent
                    self._checkpoint_before_raising(callback)
                raise

    def _checkpoint_before_raising(self, failed) -> None:
        """A listener (a user's callback) raised at a step boundary: the work so far is
        checkpointed first, so that fit(resume=...) continues it once the callback is fixed,
        whatever the cadence said. Not when the run replaces an old one (--overwrite) that has
        not been replaced yet: that one comes back whole, as after any failure before the new
        run's first checkpoint. A checkpoint that cannot be written leaves the listener's error
        as the one raised."""
        from nnc.runtime.train.callbacks import Checkpoints

        for callback in self.callbacks:
            if isinstance(callback, Checkpoints) and callback is not failed and not callback.run.replacing:
                try:
                    callback.save(finished=None)
                except Exception:  # noqa: BLE001, S110 - the listener's error is the one to see
                    pass

    def _interrupt(self, signum, frame) -> None:
        if self.interrupted:  # a second Ctrl-C: the user does not want to wait
            raise KeyboardInterrupt
        self.interrupted = True

    def _epoch(self) -> dict | None:
        """One epoch from where the state stands; its logs, or None when training was stopped
        or interrupted before its last batch."""
        state, config, params = self.state, self.config, self.plan.params
        if state.order is None:
            state.order = self.rng.permutation(self.n) if config.shuffle else np.arange(self.n)
            state.sums = {"loss": 0.0, "seen": 0}
            self.metrics.reset()
        slices = batch_slices(self.n, config.batch_size)
        clip_norm = config.optimizer.params.get("clip_norm")
        clip_value = config.optimizer.params.get("clip_value")
        for b in range(state.batch, len(slices)):
            if self.interrupted or self.stop_reason is not None or self.steps_done():
                return None
            feeds = take(self.train, state.order[slices[b]])
            result = self.plan.gradients(feeds, self.rng)
            penalty = add_penalties(params.flat, params.grad, self.penalties) if self.penalties else 0.0
            loss = result.loss + penalty
            self._check_finite(loss, result.values, b, len(slices))
            if clip_norm is not None or clip_value is not None:
                clip_gradients(params.grad, clip_norm=clip_norm, clip_value=clip_value)
            self.optimizer.step(params.flat, params.grad, self.lr)
            rows = slices[b].stop - slices[b].start
            state.sums["loss"] += loss * rows
            state.sums["seen"] += rows
            self.metrics.update(result.values, feeds)
            state.step += 1
            state.batch = b + 1
            logs = {"loss": loss, **self.metrics.results(), "batch": b + 1, "batches": len(slices)}
            self._tell("on_batch_end", state.step, logs)
        logs = {"epoch": state.epoch + 1, "loss": state.sums["loss"] / state.sums["seen"]}
        logs.update(self.metrics.results())
        if self.validation is not None:
            logs.update(evaluate(self.plan, self.validation, self.metrics, "val_")[0])
            if not np.isfinite(logs["val_loss"]):
                self._non_finite_validation(logs["val_loss"])
        logs["lr"] = self.lr
        return logs

    def _non_finite_validation(self, loss: float) -> None:
        """Stops on a validation loss that is not finite, naming the first layer whose output
        was not, on the first validation batch that shows it."""
        where = f"the validation loss became {loss} after epoch {self.state.epoch + 1}"
        for part in batch_slices(len(next(iter(self.validation.values()))), EVAL_BATCH):
            result = self.plan.evaluate(take(self.validation, part))
            step = self.plan.first_non_finite(result.values)
            if step is not None or not np.isfinite(result.loss):
                culprit = (
                    f"; the first non-finite value came from layer `{step.name}` ({step.op.name})"
                    if step
                    else ""
                )
                raise NonFinite(
                    where + culprit,
                    layer=step and step.name,
                    help="check the validation data, or lower the learning rate",
                )
        raise NonFinite(where, layer=None, help="check the validation data, or lower the learning rate")

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
        if not np.isfinite(np.dot(grad, grad)):  # one cheap pass; the search below only on failure
            grads = self.plan.params.grads
            # the first parameter in graph order (the table's) whose gradient is not finite; when
            # every entry is finite, their squares overflowed float32: entries past about 1e19,
            # which the next update would turn into non-finite weights
            key = next((k for k, g in grads.items() if not np.isfinite(g).all()), None)
            if key is not None:
                what = f"a gradient became non-finite at {where}, first that of `{key}`"
            else:
                key = max(grads, key=lambda k: float(np.abs(grads[k]).max(initial=0)))
                largest = float(np.abs(grads[key]).max())
                what = f"the gradient's norm overflowed at {where}: `{key}` has entries of {largest:.3g}"
            layer = key.rsplit(".", 1)[0]
            raise NonFinite(f"{what} (layer `{layer}`)", layer=layer, help=help)
