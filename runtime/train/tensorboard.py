"""Metrics as TensorBoard reads them, live: `tensorboard --logdir runs/` shows the curves of
every run. A listener on the loop like every other (runtime/train/callbacks.py), asked for with
`nnc train --tensorboard` or `fit(tensorboard=True)`.

Written through tensorboardX (the `tensorboard` extra): a small writer with no framework behind
it, where the `tensorboard` package's own writer lives in TensorFlow or PyTorch. Its event files
go to RUN/tensorboard/train and RUN/tensorboard/validation, so that the two curves of a metric
overlay as in Keras: `epoch_loss`, `epoch_accuracy`, ... at each epoch's end, `batch_loss` and
`learning_rate` as steps go. The x axis is the optimizer step throughout: a resumed run tells
TensorBoard to drop what the killed part wrote after its checkpoint (purge_step), so no step
shows twice."""

from __future__ import annotations

from nnc.runtime.errors import UsageError
from nnc.runtime.train.callbacks import Callback

FOLDER = "tensorboard"


def writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise UsageError(
            "E550",
            "TensorBoard logs are written through tensorboardX, which is not installed",
            help="pip install 'nnc[tensorboard]'",
        ) from None
    return SummaryWriter


class TensorBoard(Callback):
    def __init__(self, run_path):
        self.folder = run_path / FOLDER
        self.writer_class = writer_class()  # before training: a missing extra stops nothing midway
        self.writers = {}

    def on_train_begin(self, logs: dict) -> None:
        step = self.trainer.state.step  # steps done: what a killed part wrote after is dropped
        for part in ("train", "validation"):
            # a file of its own per part of a run: names carry only the second they were made
            folder, suffix = str(self.folder / part), f".step{step}"
            self.writers[part] = self.writer_class(
                folder, purge_step=step + 1 if step else None, filename_suffix=suffix
            )

    def on_batch_end(self, step: int, logs: dict) -> None:
        self.writers["train"].add_scalar("batch_loss", logs["loss"], step)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        step = self.trainer.state.step
        for name, value in logs.items():
            if name in ("epoch", "seconds"):
                continue
            if name == "lr":
                self.writers["train"].add_scalar("learning_rate", value, step)
            elif name.startswith("val_"):
                self.writers["validation"].add_scalar(f"epoch_{name[4:]}", value, step)
            else:
                self.writers["train"].add_scalar(f"epoch_{name}", value, step)
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, logs: dict) -> None:
        for writer in self.writers.values():
            writer.close()
