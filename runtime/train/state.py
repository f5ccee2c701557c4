"""Where a training run is, and how that is written into a checkpoint and read back. With
`batch` > 0 the run stopped inside an epoch, whose shuffled order and running sums are kept so
that resuming replays exactly the remaining batches.

In a checkpoint (runtime/train/run_dir.py) the counters go into the `state:meta` JSON and the
order into the array `state:order`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer updates done
    batch: int = 0  # batches done in the current epoch
    order: np.ndarray | None = None  # the current epoch's sample order
    sums: dict = field(default_factory=dict)  # running loss and metric accumulators
    history: list = field(default_factory=list)  # one dict of logs per finished epoch
    seconds: float = 0.0  # time spent training before this part of the run (resumes add up)

    def checkpoint_state(self) -> tuple[dict, dict]:
        """(JSON values, arrays) for a checkpoint."""
        meta = {"epoch": self.epoch, "step": self.step, "batch": self.batch, "sums": self.sums}
        meta["history"], meta["seconds"] = self.history, self.seconds
        return meta, ({"state:order": self.order} if self.order is not None else {})

    def restore_state(self, meta: dict, arrays: dict) -> None:
        self.epoch, self.step, self.batch = meta["epoch"], meta["step"], meta["batch"]
        self.sums, self.history = meta["sums"], meta["history"]
        self.seconds = meta.get("seconds", 0.0)  # checkpoints before it was kept: not known
        self.order = arrays.get("state:order")
