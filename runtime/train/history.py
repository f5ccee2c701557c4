"""What `Model.fit` returns, as Keras's History: the metrics of each epoch this fit ran, as
arrays, and the loss of each optimizer step, at full precision. It is a listener on the loop like
every other (runtime/train/callbacks.py)."""

from __future__ import annotations

import numpy as np
from nnc.runtime.train.callbacks import Callback


class History(Callback):
    def __init__(self):
        self.epoch: list[int] = []  # the index (from 0) of each epoch this fit finished
        self.history: dict[str, np.ndarray] = {}  # metric -> one float64 value per epoch
        self._losses: list[float] = []
        self.training_summary: dict = {}  # summary.json of the run, once fit returns
        self.run_dir = None  # the run directory's Path, once fit returns

    @property
    def step_losses(self) -> np.ndarray:
        """The loss (with any penalties) of every optimizer step this fit took, as float64."""
        return np.array(self._losses, np.float64)

    def on_batch_end(self, step: int, logs: dict) -> None:
        self._losses.append(float(logs["loss"]))

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for name, value in logs.items():
            if name != "epoch":
                self.history[name] = np.append(self.history.get(name, np.empty(0)), float(value))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if k != "seconds")
        return f"<History: {len(self.epoch)} epochs, {len(self._losses)} steps; last: {shown}>"
