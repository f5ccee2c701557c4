"""Training: the loop (loop.py) and its one event mechanism, the listeners on it
(callbacks.py: the schedule, early stopping, checkpoints, metrics.csv; progress.py: the
display; history.py: what Model.fit returns), the loop's state and its checkpoint form
(state.py), measuring a model on a data set (evaluate.py), the run directory (run_dir.py) and
the run entry point everything trains through (run.py)."""

from nnc.runtime.train.callbacks import Callback
from nnc.runtime.train.history import History
from nnc.runtime.train.loop import Interrupted, NonFinite, Trainer
from nnc.runtime.train.run import RunResult, TrainJob, train_run

__all__ = ["Callback", "History", "Interrupted", "NonFinite", "RunResult", "TrainJob", "Trainer", "train_run"]
