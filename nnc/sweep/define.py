"""A sweep from what the command line says: the spec (compiled with the overrides every trial
shares), the axes, the seed and the folder. Every trial's point is compiled here, before any
training, through the same `--set` path `nnc train` takes: a bad key or value is the same
located diagnostic (a CompileError), and one bad point stops the sweep before it starts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nnc.sweep import folder as sweep_folder
from nnc.sweep.points import parse_axis, trials


def define(
    base,
    grids: Sequence[str],
    n_random: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
) -> sweep_folder.Sweep:
    """`base` is the nnc.Model of the spec with the fixed overrides (`nnc.load(spec, fixed)`);
    `grids` the `--grid` texts; `seed` the sweep seed (default: the spec's train.seed); `out`
    the sweep folder (default: runs/<spec name>-sweep). Raises ValueError for axes that do not
    make a sweep, CompileError for a point the spec refuses."""
    import nnc

    given = Path(base.program.path)  # diagnostics name it as the user did
    spec = given.resolve()
    fixed = tuple(base.overrides)
    axes = [parse_axis(g) for g in grids]
    if not axes:
        raise ValueError("nothing to sweep: give at least one --grid KEY=V1,V2,...")
    fixed_keys = {text.partition("=")[0].strip() for text in fixed}
    if both := [a.key for a in axes if a.key in fixed_keys]:
        raise ValueError(f"{', '.join(both)}: both --set and --grid; sweep it or fix it, not both")
    sweep_seed = base.program.train.seed if seed is None else seed
    points = trials(axes, n_random, sweep_seed)
    epochs = [nnc.load(given, t.overrides(fixed)).program.train.epochs for t in points]
    monitor, mode = monitored(base.program)
    where = Path(out) if out is not None else Path("runs") / f"{spec.stem}-sweep"
    return sweep_folder.Sweep(
        spec,
        where,
        fixed,
        tuple(a.key for a in axes),
        tuple(points),
        monitor,
        mode,
        max(epochs),
        sweep_folder.definition(spec, base.source, fixed, grids, n_random, sweep_seed, points),
    )


def monitored(program) -> tuple[str, str]:
    """The metric a run is judged by, and whether lower or higher is better: early stopping's
    monitor and mode, else the validation loss, else the training loss."""
    train = program.train
    if train.early_stopping is not None:
        return train.early_stopping.monitor, train.early_stopping.mode
    validates = train.validation_split or train.data.validation is not None
    return ("val_loss" if validates else "loss"), "min"
