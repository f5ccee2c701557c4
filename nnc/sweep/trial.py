"""One trial: its point trained through the same entry point `nnc train` uses (`nnc.load` with
the trial's `--set` overrides, then `Model.fit` into the trial's run directory), whichever
engine runs it. A finished trial is kept as it is, an unfinished one (a checkpoint) resumes,
a missing one starts; a refusal (a diverging loss, bad data) is recorded as the trial's
failure, for the other trials to go on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nnc.runtime.train import Callback
from nnc.sweep.folder import (
    FAILED,
    FINISHED,
    STOPPED,
    UNFINISHED,
    Sweep,
    clear_state,
    read_state,
    was_stopped,
    write_state,
)
from nnc.sweep.points import Trial


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # FINISHED, STOPPED, FAILED or UNFINISHED (nnc/sweep/folder.py)
    message: str = ""  # why it failed, after its error code: `E501: the loss became nan ...`
    kept: bool = False  # finished before this run of the sweep: not trained again


def run_trial(sweep: Sweep, trial: Trial, callbacks: Sequence[Callback] = ()) -> Outcome:
    """Trains `trial` (or resumes it, or keeps it when finished). `callbacks` listen on its
    training loop: an engine's way to report epochs or to stop the trial."""
    import nnc
    from nnc.compiler.diagnostics import ERROR, CompileError
    from nnc.runtime.errors import RunError
    from nnc.runtime.train import Interrupted
    from nnc.runtime.train.run_dir import RunDir

    run = RunDir(sweep.run_dir(trial))
    if run.complete():
        return Outcome(trial.name, read_state(run.path).get("status", FINISHED), kept=True)
    clear_state(sweep, trial)
    try:
        model = nnc.load(sweep.spec, trial.overrides(sweep.fixed))
        resume = run.path if run.file("checkpoint.npz").exists() else None
        history = model.fit(
            out=None if resume else run.path, resume=resume, verbose=0, callbacks=list(callbacks)
        )
    except Interrupted:
        return Outcome(trial.name, UNFINISHED, "interrupted; its checkpoint is kept")
    except CompileError as e:  # the points were checked: only a spec edited meanwhile
        first = next(d for d in e.diagnostics if d.severity == ERROR)
        return _failed(sweep, trial, first.code, first.message)
    except RunError as e:
        return _failed(sweep, trial, e.code, e.message)
    stopped = history.training_summary.get("stopped_early") and was_stopped(sweep.folder, trial.name)
    status = STOPPED if stopped else FINISHED
    write_state(run.path, status)
    return Outcome(trial.name, status)


class Interrupt(Callback):
    """Interrupts the trial as a Ctrl-C does (a checkpoint at the next step boundary, then
    Interrupted) once `asked()` says so: an engine stopping its trials, to resume later."""

    def __init__(self, asked: Callable[[], bool]):
        self.asked = asked

    def on_train_begin(self, logs: dict) -> None:
        self.on_batch_end(0, logs)

    def on_batch_end(self, step: int, logs: dict) -> None:
        if self.asked():
            self.trainer.interrupted = True  # what the loop's own Ctrl-C handler sets


def _failed(sweep: Sweep, trial: Trial, code: str, message: str) -> Outcome:
    message = f"{code}: " + " ".join(message.split())  # one line in the leaderboard (E514 lists lines)
    write_state(sweep.run_dir(trial), FAILED, message)
    return Outcome(trial.name, FAILED, message)
