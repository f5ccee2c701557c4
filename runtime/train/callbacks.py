"""Listeners on the training loop, with Keras's hooks. Everything that reacts to training, the
trainer's own machinery included, is one of these: the learning-rate schedule, early stopping,
checkpoints, metrics.csv, the progress display (runtime/train/progress.py), the history that
`Model.fit` returns, and a user's callbacks.

A listener overrides the hooks it needs, told in list order:

    on_train_begin(logs)           logs: {}
    on_epoch_begin(epoch, logs)    epoch: its index, from 0 (as Keras); logs: {}
    on_batch_end(step, logs)       step: optimizer steps done, from 1; logs: the batch's loss,
                                   the epoch's running metrics, batch (from 1) and batches
    on_epoch_end(epoch, logs)      logs: the epoch's row of metrics.csv (1-based "epoch")
    on_train_end(logs)             after the last epoch or step, a stop or a Ctrl-C; logs: the
                                   last epoch's, or {} (not called after an error)

`self.trainer` is the Trainer (runtime/train/loop.py): `trainer.state` says where training is,
`trainer.plan` holds the weights, `trainer.lr` the learning rate. `self.model` is the nnc.Model
when training through the Python API. `self.stop_training(reason)` ends training after the
current step (at an epoch's end: before the next epoch); the reason ends the run's last line.

A listener with state that an interrupted run must get back (early stopping's best value)
returns it from `checkpoint_state` as (JSON values, arrays) and takes it in `restore_state`."""

from __future__ import annotations

import time

from nnc.runtime.schedules import make_schedule


class Callback:
    trainer = None  # set by the Trainer before on_train_begin
    model = None  # the nnc.Model, set by Model.fit

    def on_train_begin(self, logs: dict) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        pass

    def on_batch_end(self, step: int, logs: dict) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, logs: dict) -> None:
        pass

    def stop_training(self, reason: str = "stopped by a callback") -> None:
        self.trainer.stop(reason)

    def checkpoint_state(self) -> tuple[dict, dict]:
        return {}, {}

    def restore_state(self, meta: dict, arrays: dict) -> None:
        pass


class LearningRateSchedule(Callback):
    """Sets the epoch's learning rate when it begins; a schedule that reacts to a metric
    (reduce_on_plateau) sees the epoch's logs when it ends."""

    def __init__(self, config, base_lr: float):
        self.schedule = make_schedule(config, base_lr)

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.trainer.lr = self.schedule.lr(epoch)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.schedule.observe(epoch, logs)

    def checkpoint_state(self) -> tuple[dict, dict]:
        return {"schedule": self.schedule.state()}, {}

    def restore_state(self, meta: dict, arrays: dict) -> None:
        self.schedule.load_state(meta["schedule"])


class EarlyStopping(Callback):
    """Stops after `patience` epochs without an improvement of the monitored value larger than
    `min_delta`; with `restore_best` it keeps the best epoch's weights, which `restore_best`
    puts back once training has ended (after the final checkpoint, which keeps the last)."""

    def __init__(self, config):
        self.config = config  # the IR's EarlyStopping: monitor, mode, patience, min_delta, restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None  # 1-based
        self.best_weights: dict | None = None
        self.wait = 0  # epochs since the best

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        c = self.config
        value = logs[c.monitor]
        if self.best is None or (
            value < self.best - c.min_delta if c.mode == "min" else value > self.best + c.min_delta
        ):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            if c.restore_best:
                self.best_weights = self.trainer.plan.params.to_dict()
            return
        self.wait += 1
        if self.wait >= c.patience:
            self.stop_training(f"stopped early at epoch {epoch + 1} (best epoch {self.best_epoch})")

    def restore_best(self, params) -> bool:
        """The best epoch's weights back in `params` when the spec asks for them, whether or not
        stopping triggered."""
        if not self.config.restore_best or self.best_weights is None:
            return False
        params.load(self.best_weights, path="best weights")
        return True

    def checkpoint_state(self) -> tuple[dict, dict]:
        meta = {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}
        return meta, {f"best:{k}": v for k, v in (self.best_weights or {}).items()}

    def restore_state(self, meta: dict, arrays: dict) -> None:
        self.best, self.best_epoch, self.wait = meta["best"], meta["best_epoch"], meta["wait"]
        best = {k.removeprefix("best:"): v for k, v in arrays.items() if k.startswith("best:")}
        self.best_weights = best or None


class Checkpoints(Callback):
    """A checkpoint at the spec's cadence (train.checkpoint_every: every N seconds, epochs or
    steps; seconds and steps may fall inside an epoch), and one when training ends (marked
    finished unless it was interrupted; the run is finished once its final files follow): the
    weights, the trainer's state and every listener's, the spec hash and the data fingerprint
    (runtime/train/run_dir.py lays it out). A SIGKILL loses at most one cadence of work."""

    def __init__(self, run, spec_hash: str, fingerprint: str, every: tuple[str, float]):
        self.run, self.spec_hash, self.fingerprint = run, spec_hash, fingerprint
        self.unit, self.amount = every
        self.last = time.monotonic()

    def on_train_begin(self, logs: dict) -> None:
        self.last = time.monotonic()

    def on_batch_end(self, step: int, logs: dict) -> None:
        due = step % self.amount == 0 if self.unit == "steps" else self._seconds_due()
        if due and logs["batch"] < logs["batches"]:  # at an epoch's end, on_epoch_end decides
            self.save(finished=None)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        due = (epoch + 1) % self.amount == 0 if self.unit == "epochs" else self._seconds_due()
        if due or (self.unit == "steps" and self.trainer.state.step % self.amount == 0):
            self.save(finished=None)

    def on_train_end(self, logs: dict) -> None:
        trainer = self.trainer
        self.save(finished=None if trainer.interrupted else trainer.end_reason())

    def _seconds_due(self) -> bool:
        return self.unit == "seconds" and time.monotonic() - self.last >= self.amount

    def save(self, finished: str | None) -> None:
        trainer = self.trainer
        meta, arrays = trainer.checkpoint_state()
        meta.update(spec_hash=self.spec_hash, data=self.fingerprint, finished=finished)
        self.run.save_checkpoint(trainer.plan.params.to_dict(), arrays, meta)
        self.run.drop_aside()  # a run this one replaces (--overwrite) is gone only now
        self.last = time.monotonic()


class MetricsLog(Callback):
    """metrics.csv: one row per finished epoch, rewritten whole after each, and flushed to disk
    when training ends."""

    def __init__(self, run):
        self.run = run

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.run.write_metrics(self.trainer.state.history, durable=False)

    def on_train_end(self, logs: dict) -> None:
        self.run.write_metrics(self.trainer.state.history, durable=True)
