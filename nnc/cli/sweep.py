"""`nnc sweep`: one training per point of a hyperparameter grid (or random sample), each a
normal run directory in runs/<spec>-sweep/, ranked in a leaderboard (nnc/sweep/)."""

from __future__ import annotations

import sys

import click

from nnc.cli.common import (
    EXIT_DATA_ERROR,
    EXIT_INTERRUPTED,
    EXIT_TRAINING_ERROR,
    SET,
    load_model,
)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--grid",
    "grids",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="Values of a constant or setting, as --set takes them: hidden=64,128, optimizer.lr=1e-3,3e-3; "
    "with --random also a range KEY=LO..HI (integers: uniform; else log-uniform). Repeatable: "
    "the trials are every combination.",
)
@click.option(
    "--random", "n_random", type=click.IntRange(1), help="Draw this many points instead of every combination."
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    help="Seed of the sweep, from which each trial's seed and the random points are drawn "
    "(default: the spec's train.seed).",
)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="Trials at once (default: one per core; with ray, as many as the cluster's CPUs).",
)
@click.option(
    "--address",
    help="ray: the cluster to run on (default: RAY_ADDRESS, else `ray start`'s, else a local one).",
)
@click.option(
    "--scheduler",
    type=click.Choice(["asha", "none"]),
    default="asha",
    show_default=True,
    help="ray: stop poor trials early (ASHA), or train every trial to its end.",
)
@click.option(
    "--grace-period",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="ray, ASHA: epochs every trial trains before it may be stopped.",
)
@click.option(
    "--reduction-factor",
    type=click.FloatRange(1, min_open=True),
    default=4,
    show_default=True,
    help="ray, ASHA: at each rung, keep the best 1/FACTOR of the trials.",
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="The sweep's folder (default: runs/<spec name>-sweep)."
)
@click.option("--overwrite", is_flag=True, help="Replace another sweep in --out instead of refusing.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the leaderboard and errors.")
@SET
def sweep(
    spec,
    grids,
    n_random,
    seed,
    engine,
    workers,
    address,
    scheduler,
    grace_period,
    reduction_factor,
    out,
    overwrite,
    quiet,
    overrides,
) -> None:
    """Train SPEC once per point of the --grid values, each trial a run directory in
    runs/<spec name>-sweep/<trial>, and rank them in leaderboard.csv by the spec's monitored
    metric; `best` links to the best trial (nnc export runs/<spec name>-sweep/best).

    --set fixes a setting for every trial. Running the same command again continues the
    sweep: finished trials are kept, interrupted ones resume."""
    from nnc.sweep.define import define
    from nnc.sweep.leaderboard import format_table
    from nnc.sweep.run import run_sweep

    if engine == "ray":
        from nnc.ray import require_ray

        require_ray("ray.tune")  # before anything runs
    elif address is not None:
        raise click.UsageError("--address is the Ray cluster of --engine ray")
    base = load_model(spec, overrides, reads=("train", "validation"))
    try:
        plan = define(base, grids, n_random, seed, out)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--grid/--random") from None
    say = (lambda text: None) if quiet else (lambda text: click.echo(text, err=True))
    say(f"{len(plan.trials)} trials in {plan.folder}, ranked by {plan.monitor} ({plan.mode})")
    try:
        table = run_sweep(
            plan,
            engine=engine,
            workers=workers,
            overwrite=overwrite,
            address=address,
            asha=scheduler == "asha",
            grace_period=grace_period,
            reduction_factor=reduction_factor,
            on_outcome=lambda o: say(f"{o.name}: {o.status}" + (f": {o.message}" if o.message else "")),
        )
    except KeyboardInterrupt:
        click.echo(
            "nnc: sweep interrupted; finished trials are kept, the others checkpointed: run the "
            "same command to continue",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    click.echo(format_table(plan, table), nl=False)
    if (plan.folder / "best").exists():
        say(f"best: {table[0]['trial']}; export it with: nnc export {plan.folder / 'best'}")
    failed = [row["message"] for row in table if row["status"] == "failed"]
    if failed:
        sys.exit(EXIT_DATA_ERROR if all(m.startswith("E4") for m in failed) else EXIT_TRAINING_ERROR)
    if any(row["status"] == "unfinished" for row in table):
        click.echo("nnc: some trials did not finish: run the same command to continue", err=True)
        sys.exit(EXIT_INTERRUPTED)
