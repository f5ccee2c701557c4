"""--engine local: the trials on a pool of processes on this machine, `workers` at a time.

Each worker is a fresh interpreter (spawn: no state copied from the parent) whose BLAS and
elementwise threads share the cores with the other workers', so that two workers on two cores
do not each start two threads. A Ctrl-C reaches the whole process group: workers leave it to
the parent, which asks every running trial to stop at its next step, as `nnc train` does on a
Ctrl-C (a checkpoint, from which a rerun of the sweep resumes), and cancels the rest.

NOTE: this module is what a worker imports before its initializer runs, and BLAS reads its
thread count when NumPy is first imported: nothing here imports NumPy at module level."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_stop = None  # in a worker: the parent's event asking trials to stop


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_local(sweep, trials: list, workers: int, on_outcome: Callable) -> list:
    """Runs `trials` (nnc.sweep.points.Trial) and returns their Outcomes, telling `on_outcome`
    of each as it ends. A Ctrl-C stops the running trials at a checkpoint, then propagates."""
    from nnc.runtime.errors import RunError

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    threads = max(1, cores() // workers)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(threads, stop))
    outcomes = []
    try:
        futures = {pool.submit(_run, sweep, trial): trial for trial in trials}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:
                raise RunError(
                    "E561",
                    f"a worker process died while training trial {futures[future].name} (killed, or "
                    "out of memory)",
                    path=str(sweep.folder),
                    help="run the same command again to continue the sweep; fewer --workers use less memory",
                ) from None
            outcomes.append(outcome)
            on_outcome(outcome)
    except KeyboardInterrupt:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)  # the running trials checkpoint and return
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcomes


def _start(threads: int, stop) -> None:
    global _stop
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    # The parent decides what a Ctrl-C means; while training, the loop's own handler (which
    # checkpoints) still takes it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop = stop


def _run(sweep, trial):
    from nnc.sweep.trial import Interrupt, run_trial

    return run_trial(sweep, trial, [Interrupt(_stop.is_set)])
