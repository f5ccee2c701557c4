"""`nnc predict`: ONNX through onnxruntime, on one data file, or on many (shards: a --data
pattern, or --engine ray) each into an output of its own in the -o folder."""

from __future__ import annotations

import glob
import sys
from pathlib import Path

import click

from nnc.cli.common import EXIT_DATA_ERROR, EXIT_TRAINING_ERROR, EXIT_USAGE_ERROR, report


@click.command()
@click.argument("model_path", metavar="MODEL.onnx", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--data",
    help="Inputs: .csv, .parquet, .npz (or .npy for one input), or a folder of images or texts; "
    "or a quoted pattern of shards, 'shards/*.parquet', each predicted into the -o folder.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="predictions.csv, .npy or .npz (default: CSV on stdout); for shards, a folder.",
)
@click.option(
    "--provider",
    default="cpu",
    show_default=True,
    help="Execution provider: cpu, cuda, cuda:1 (a device), tensorrt, ...; never a silent fall-back.",
)
@click.option("--allow-tf32", is_flag=True, help="Let CUDA compute with TF32: faster, about 1e-3 less exact.")
@click.option("--verbose", "-v", is_flag=True, help="Show onnxruntime's own log (otherwise errors only).")
@click.option("--list-providers", is_flag=True, help="List the execution providers available here and exit.")
@click.option(
    "--threads", type=click.IntRange(1), help="Threads onnxruntime may use (per actor with Ray: 1)."
)
@click.option("--batch-size", type=click.IntRange(1), default=1024, show_default=True)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this process; ray: the shards spread over a Ray cluster's actors (pip install 'nnc[ray]').",
)
@click.option(
    "--address", help="The Ray cluster to join (default: RAY_ADDRESS, else `ray start`'s, else a local one)."
)
@click.option(
    "--workers", type=click.IntRange(1), help="Ray actors, one session each (default: one per CPU)."
)
@click.option("--resume", is_flag=True, help="Keep the shards whose output a previous run completed.")
def predict(
    model_path,
    data,
    output,
    provider,
    allow_tf32,
    verbose,
    list_providers,
    threads,
    batch_size,
    engine,
    address,
    workers,
    resume,
) -> None:
    """Run MODEL.onnx (from `nnc export`) through onnxruntime on --data.

    Class labels come from the model's metadata. An unavailable --provider is an error, never
    a silent fall-back to CPU. Shards (`--data 'shards/*.csv' -o out/`) are predicted each into
    out/<stem>.csv; a shard that fails is reported and the others are written; --resume keeps
    those a previous run finished."""
    from nnc.runtime.onnx.session import available_providers

    if list_providers:
        click.echo("\n".join(available_providers()))
        return
    if model_path is None or data is None:
        raise click.UsageError("nnc predict needs MODEL.onnx and --data FILE")
    for given, name in ((address, "--address"), (workers, "--workers")):
        if given is not None and engine != "ray":
            raise click.UsageError(f"{name} is for --engine ray")
    if glob.has_magic(data) or engine == "ray":
        if output is None:
            raise click.UsageError("predicting shards needs -o FOLDER, where each shard's output goes")
        if Path(output).is_file():
            raise click.UsageError(f"-o {output}: predicting shards writes a folder, and this is a file")
        options = {
            "provider": provider,
            "threads": threads,
            "allow_tf32": allow_tf32,
            "batch_size": batch_size,
        }
        _shards(model_path, data, Path(output), options, engine, address, workers, resume, verbose)
        return
    if resume:
        raise click.UsageError("--resume is for shards: a --data pattern and an -o folder")
    if output is not None and Path(output).is_dir():
        raise click.UsageError(f"-o {output} is a folder: name a .csv, .npy or .npz file")
    _one_file(model_path, data, output, provider, allow_tf32, verbose, threads, batch_size)


def _one_file(model_path, data, output, provider, allow_tf32, verbose, threads, batch_size) -> None:
    from nnc.runtime.onnx.predict import Predictor, write_predictions

    predictor = Predictor(
        model_path, provider=provider, threads=threads, verbose=verbose, allow_tf32=allow_tf32
    )
    if output is not None and output.lower().endswith(".npy") and len(predictor.outputs) != 1:
        raise click.UsageError(f"the model has {len(predictor.outputs)} outputs; write .npz or .csv")
    live = sys.stderr.isatty()

    def counted(parts):
        done = 0
        for part, outputs in parts:
            yield part, outputs
            done += part.n
            if live:
                click.echo(f"\r{done} samples", err=True, nl=False)
        if live:
            click.echo("", err=True)

    parts = counted(predictor.stream(data, batch_size=batch_size))
    to = Path(output) if output else None
    write_predictions(predictor, parts, to, lambda text: click.echo(text, nl=False))


def _shards(model_path, pattern, out: Path, options: dict, engine, address, workers, resume, verbose) -> None:
    """Each shard predicted into `out`, by this process or by a Ray cluster; then the notes and
    the failures (each once, in shard order), a summary line, and the first failure's exit code."""
    from nnc.runtime.onnx import shards as sharded

    if engine == "ray":
        import nnc.ray

        nnc.ray.require_ray()  # before anything is read
    found = sharded.shards(pattern, out)
    stamp = sharded.stamp(model_path, provider=options["provider"], allow_tf32=options["allow_tf32"])
    if engine == "ray":
        threads = options["threads"] or 1  # an actor per CPU, one thread each
        outcomes = nnc.ray.predict_shards(
            model_path,
            found,
            stamp,
            **{**options, "threads": threads},
            resume=resume,
            address=address,
            workers=workers,
        )
    else:
        from nnc.runtime.onnx.predict import Predictor

        batch_size = options.pop("batch_size")
        predictor = Predictor(model_path, **options, verbose=verbose)
        outcomes = sharded.predict_shards(predictor, found, stamp, batch_size=batch_size, resume=resume)
    live, done = sys.stderr.isatty(), []
    for outcome in outcomes:
        done.append(outcome)
        if live:
            click.echo(f"\r{len(done)}/{len(found)} shards", err=True, nl=False)
    if live:
        click.echo("", err=True)
    order = {str(s.data): i for i, s in enumerate(found)}
    _summary(sorted(done, key=lambda o: order[o.data]), out)


def _summary(outcomes: list, out: Path) -> None:
    from nnc.compiler.diagnostics import from_run_error
    from nnc.runtime.data.dataset import shown_path

    said: dict[str, list[str]] = {}  # a note, and the shards it is about
    for o in outcomes:
        for text in o.warnings:
            said.setdefault(text, []).append(shown_path(Path(o.data)))
    for text, where in said.items():
        more = f" (and {len(where) - 1} more shards)" if len(where) > 1 else ""
        click.echo(f"note: {where[0]}{more}: {text}", err=True)
    failed = [o for o in outcomes if o.error is not None]
    errors = {}  # one message for one mistake: a model no actor could open fails every shard
    for o in failed:
        e = o.refusal()
        errors.setdefault((e.code, e.message, e.path, e.line, e.column), e)
    if errors:
        report([from_run_error(e) for e in errors.values()])
    written = [o for o in outcomes if o.error is None and not o.kept]
    kept = len(outcomes) - len(written) - len(failed)
    samples = sum(o.samples for o in written)
    line = f"wrote {len(written)} shard{'s' if len(written) != 1 else ''} ({samples} samples) to {out}"
    line += f"; kept {kept} finished by an earlier run" if kept else ""
    line += f"; {len(failed)} failed" if failed else ""
    click.echo(line, err=True)
    if failed:
        first = failed[0]
        code = first.error["code"]
        sys.exit(
            EXIT_USAGE_ERROR
            if first.usage
            else EXIT_DATA_ERROR
            if code.startswith("E4")
            else EXIT_TRAINING_ERROR
        )
