"""Running a defined sweep: the folder claimed, the trials that are not finished handed to an
engine (nnc/sweep/local.py, nnc/sweep/on_ray.py), and the leaderboard written from what the run
directories hold, also when the sweep was interrupted."""

from __future__ import annotations

from collections.abc import Callable

from nnc.runtime.train.run_dir import RunDir
from nnc.sweep import leaderboard
from nnc.sweep.folder import Sweep, claim


def run_sweep(
    sweep: Sweep,
    *,
    engine: str = "local",
    workers: int | None = None,
    overwrite: bool = False,
    address: str | None = None,
    asha: bool = True,
    grace_period: int = 1,
    reduction_factor: float = 4,
    on_outcome: Callable = lambda outcome: None,
) -> list[dict]:
    """Trains every trial of `sweep` not finished yet and returns the leaderboard's rows, best
    first. `engine`: "local" (a pool of `workers` processes, default one per core) or "ray"
    (Ray Tune at `address`, with ASHA unless `asha` is False). `overwrite` replaces another
    sweep in the folder. A Ctrl-C leaves every trial resumable and propagates."""
    claim(sweep, overwrite=overwrite)
    pending = [t for t in sweep.trials if not RunDir(sweep.run_dir(t)).complete()]
    try:
        if pending and engine == "ray":
            from nnc.sweep.on_ray import run_ray

            for outcome in run_ray(
                sweep,
                pending,
                address=address,
                workers=workers,
                asha=asha,
                grace_period=grace_period,
                reduction_factor=reduction_factor,
            ):
                on_outcome(outcome)
        elif pending:
            from nnc.sweep.local import cores, run_local

            run_local(sweep, pending, min(workers or cores(), len(pending)), on_outcome)
    finally:
        table = leaderboard.rows(sweep)
        leaderboard.write(sweep, table)
    return table
