"""`nnc train` and `nnc eval`: training a spec into a run directory, and measuring its weights."""

from __future__ import annotations

import json
import sys

import click

from nnc.cli.common import EXIT_INTERRUPTED, SET, TARGET, load_model, target_columns


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--data", type=click.Path(), help="Training data (a file or a folder) instead of the spec's data.train."
)
@click.option("--epochs", type=click.IntRange(1), help="Number of epochs (overrides train.epochs).")
@click.option(
    "--steps",
    type=click.IntRange(1),
    help="Stop after this many optimizer steps, inside an epoch if need be (overrides train.max_steps).",
)
@click.option("--batch-size", type=click.IntRange(1), help="Mini-batch size (overrides train.batch_size).")
@click.option(
    "--lr", type=click.FloatRange(0, min_open=True), help="Learning rate (overrides the optimizer's)."
)
@click.option("--seed", type=int, help="Seed of the one random generator (overrides train.seed).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<spec name>).")
@click.option(
    "--resume", type=click.Path(file_okay=False, exists=True), help="Continue the run in this directory."
)
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out instead of refusing.")
@click.option(
    "--init-weights", type=click.Path(), help="Start from these weights (.npz, or a run directory)."
)
@click.option(
    "--tensorboard",
    is_flag=True,
    help="Also write the metrics for TensorBoard, live, in RUN_DIR/tensorboard (the tensorboard extra).",
)
@click.option("--report", is_flag=True, help="Write RUN_DIR/report.html at the end (the report extra).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--verbose", "-v", is_flag=True, help="Also print sizes, the run directory and the lr.")
@TARGET
@SET
def train(
    spec,
    data,
    epochs,
    steps,
    batch_size,
    lr,
    seed,
    out,
    resume,
    overwrite,
    init_weights,
    tensorboard,
    report,
    quiet,
    verbose,
    targets,
    overrides,
) -> None:
    """Train SPEC and write a run directory: the spec, metrics.csv, checkpoint.npz, weights.npz
    and summary.json.

    On a terminal each epoch shows a live progress bar; otherwise one line per epoch. Ctrl-C
    saves a checkpoint and exits with 130; `--resume RUN_DIR` continues exactly from it."""
    from nnc.runtime.train import Interrupted
    from nnc.runtime.train.progress import Progress

    if resume is not None and out is not None:
        raise click.UsageError("--resume continues the run in its own directory; leave out --out")
    model = load_model(
        spec, overrides, reads=("validation",) if data else ("train", "validation"), settles=("W308",)
    )
    model.columns = target_columns(model, targets)
    if report:  # a missing extra is said before training, not after it
        from nnc.report.page import libraries

        libraries()
    progress = Progress(sys.stderr, verbosity=0 if quiet else 2 if verbose else 1)
    try:
        try:
            history = model.fit(
                data,
                epochs=epochs,
                steps=steps,
                batch_size=batch_size,
                lr=lr,
                seed=seed,
                out=out,
                overwrite=overwrite,
                resume=resume,
                init_weights=init_weights,
                tensorboard=tensorboard,
                progress=progress,
            )
        finally:
            progress.close()  # end a live bar's line before any message about why it stopped
    except Interrupted:
        click.echo("nnc: interrupted; checkpoint saved, continue with --resume", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if report:
        from nnc.report.page import write

        page = history.run_dir / "report.html"
        write(history.run_dir, page)
        progress.info(f"report in {page}")


@click.command(name="eval")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--weights",
    required=True,
    type=click.Path(exists=True),
    help="A run directory, a folder written by Model.save, or a weights .npz.",
)
@click.option(
    "--data", type=click.Path(), help="Data to evaluate on, a file or folder (default: the spec's data.test)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@TARGET
@SET
def evaluate(spec, weights, data, fmt, targets, overrides) -> None:
    """Loss and metrics of trained weights on a data set, with a confusion matrix for each
    classification output."""
    from nnc.runtime.metrics import format_evaluation

    model = load_model(spec, overrides, reads=() if data else ("test",))
    model.columns = target_columns(model, targets)
    logs = model.load(weights).evaluate(data)
    if fmt == "json":
        click.echo(json.dumps(logs, indent=2))
        return
    labels = {output: model.labels.get(model.target_of(output)) for output in logs.get("confusion", {})}
    click.echo(format_evaluation(logs, labels), nl=False)
