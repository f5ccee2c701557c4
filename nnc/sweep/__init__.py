"""Hyperparameter sweeps: one training per point, each through the same entry point as
`nnc train` (nnc.load with the point's --set overrides, then Model.fit into its own run
directory), ranked in a leaderboard.

    points.py       the axes (--grid, --random) expanded into named, seeded trials
    define.py       a sweep from the spec and the command line, every point checked first
    folder.py       the sweep folder: sweep.json, each trial's state, the `best` link
    trial.py        one trial: train, resume or keep it; a refusal recorded as its failure
    run.py          a sweep run: the folder claimed, the pending trials to an engine
    local.py        --engine local: a process pool on this machine
    on_ray.py       --engine ray: Ray Tune, with ASHA
    leaderboard.py  leaderboard.csv and the printed table

NOTE: nothing here imports NumPy at import time (see local.py), this file included."""
