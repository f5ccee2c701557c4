"""--engine ray: the trials as Ray Tune trials, on a cluster (`--address`) or a local one.

Each Tune trial runs `run_trial` (nnc/sweep/trial.py), the same fit into the same run
directory as the local engine, in a thread of its actor; a listener on the training loop hands
each epoch's logs to Tune and waits for its word before the next epoch. So the ASHA scheduler
(`time_attr="epoch"`, the spec's monitored metric and mode, `max_t` = epochs) decides at
exactly the epoch it was shown, and a trial it stops ends as a run does when early stopping
stops it: final checkpoint, weights and summary written, before the actor goes (Tune's
`cleanup` waits for them). Any other stop (a Ctrl-C of the driver) interrupts the trial as a
Ctrl-C does: a checkpoint, from which a rerun of the sweep resumes.

The scheduler runs in the driver and the trial on a worker: it leaves a note in the sweep
folder (.asha/<trial>) before stopping a trial, which is how the trial knows why it stops.
The sweep folder is used by every node, by absolute path: on a real cluster it must lie on a
file system they share (NFS, ...), and nnc must be installed on every node."""

from __future__ import annotations

import math
import os
import queue
import threading
from dataclasses import replace

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from nnc.ray import connect
from nnc.runtime.train import Callback
from nnc.sweep.folder import FINISHED, UNFINISHED, Sweep, note_stopped, read_state, was_stopped
from nnc.sweep.trial import Outcome, run_trial


def run_ray(
    sweep: Sweep,
    trials: list,
    *,
    address: str | None,
    workers: int | None,
    asha: bool,
    grace_period: int,
    reduction_factor: float,
) -> list[Outcome]:
    """Runs `trials` through Ray Tune and returns their Outcomes. Connects to the cluster at
    `address` (or the one `ray.init` already made in this process), else starts a local one
    for the sweep's length. `asha`: stop poor trials early; `workers`: the most at once
    (default: as many as the cluster has CPUs)."""
    sweep = replace(sweep, folder=sweep.folder.resolve())
    # Tune's live tables and the workers' logs would bury nnc's own lines: the leaderboard says it
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    started = connect(address)
    try:
        scheduler = (
            _NotingASHA(
                sweep,
                time_attr="epoch",
                metric=sweep.monitor,
                mode=sweep.mode,
                max_t=sweep.epochs,
                grace_period=min(grace_period, sweep.epochs),
                reduction_factor=reduction_factor,
            )
            if asha
            else None
        )
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(TrialTrainable, sweep=sweep), {"cpu": 1}),
            param_space={"trial": tune.grid_search([t.index for t in trials])},
            tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=workers),
            run_config=tune.RunConfig(name="tune", storage_path=str(sweep.folder / ".tune"), verbose=0),
        )
        results = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    if results.errors:  # run_trial records every refusal: what reaches Tune is a bug
        raise RuntimeError(f"a Ray Tune trial raised: {results.errors[0]}")
    return [_outcome(sweep, t) for t in trials]


def _outcome(sweep: Sweep, trial) -> Outcome:
    """What a trial that ran on the cluster left in its run directory."""
    state = read_state(sweep.run_dir(trial))
    if not state:
        return Outcome(trial.name, UNFINISHED, "interrupted; its checkpoint is kept")
    return Outcome(trial.name, state.get("status", FINISHED), state.get("message", ""))


class _NotingASHA(ASHAScheduler):
    """ASHA, leaving a note in the sweep folder for each trial it stops before its last epoch."""

    def __init__(self, sweep: Sweep, **kwargs):
        super().__init__(**kwargs)
        self.sweep, self.max_t = sweep, kwargs["max_t"]

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP and not result.get("done") and result.get("epoch", 0) < self.max_t:
            note_stopped(
                self.sweep.folder, self.sweep.trials[trial.config["trial"]].name, int(result["epoch"])
            )
        return decision


class TrialTrainable(tune.Trainable):
    """A trial as Tune's class API sees it: `step` returns the next epoch's logs. The training
    runs in a thread (the loop is nnc's one loop); `cleanup` waits for it to end."""

    def setup(self, config: dict, sweep: Sweep) -> None:
        self.results: queue.Queue = queue.Queue()  # thread -> step: ("epoch", logs, last) or ("end", outcome)
        self.orders: queue.Queue = queue.Queue()  # step/cleanup -> thread: "continue" or "stop"
        self.last = {"epoch": 0, sweep.monitor: math.nan}
        self.started = False
        trial = sweep.trials[config["trial"]]
        report = _Report(self.results, self.orders, sweep, trial.name)
        self.thread = threading.Thread(target=self._train, args=(sweep, trial, report), daemon=True)
        self.thread.start()

    def _train(self, sweep: Sweep, trial, report) -> None:
        try:
            self.results.put(("end", run_trial(sweep, trial, [report])))
        except BaseException as e:  # noqa: BLE001 - raised again in step(), Tune's thread
            self.results.put(("error", e))

    def step(self) -> dict:
        if self.started:
            self.orders.put("continue")
        self.started = True
        kind, *value = self.results.get()
        if kind == "error":
            raise value[0]
        if kind == "end":  # failed, or kept: no (more) epochs
            return {**self.last, "done": True}
        logs, last = value
        self.last = logs
        return {**logs, "done": last}

    # The trial's checkpoints are nnc's, in its run directory (resumed by rerunning the sweep);
    # Tune, which asks for one when a trial stops, keeps none.
    def save_checkpoint(self, checkpoint_dir: str) -> None:
        return None

    def load_checkpoint(self, checkpoint) -> None:
        pass

    def cleanup(self) -> None:
        self.orders.put("stop")  # unread when training is past its last epoch
        self.thread.join()


class _Report(Callback):
    """Hands each epoch's logs to `step`, then waits for Tune's word: go on, or stop — early
    when the scheduler left its note, else interrupted (to resume)."""

    def __init__(self, results: queue.Queue, orders: queue.Queue, sweep: Sweep, name: str):
        self.results, self.orders, self.sweep, self.name = results, orders, sweep, name

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        t = self.trainer
        last = t.state.epoch >= t.config.epochs or t.stop_reason is not None or t.steps_done()
        self.results.put(("epoch", dict(logs), last))
        if last or self.orders.get() == "continue":
            return
        if was_stopped(self.sweep.folder, self.name):
            self.stop_training(f"stopped by ASHA after epoch {epoch + 1}")
        else:
            t.interrupted = True  # what the loop's own Ctrl-C handler sets
