"""`nnc export` and `nnc predict`: a trained model to ONNX, and ONNX through onnxruntime."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nnc.cli.common import SET, load_model, load_run_model


@click.command()
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--weights", type=click.Path(exists=True), help="A run directory or weights (when SOURCE is a spec)."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="The .onnx file (default: RUN_DIR/model.onnx)."
)
@click.option("--opset", type=int, help="ONNX opset (default 17; 17 to 21).")
@click.option("--outputs", help="Export a sub-graph ending at these values: NAME[,NAME...].")
# Accepted for scripts written when standardization was metadata; it is always in the graph now.
@click.option("--include-preprocessing", is_flag=True, hidden=True)
@click.option("--no-verify", is_flag=True, help="Skip the export gate (validity, shapes, parity).")
@click.option(
    "--verify-provider",
    default="cpu",
    show_default=True,
    help="Run the gate on the execution provider the model will be deployed on: cuda, cuda:1, ...",
)
@SET
def export(
    source, weights, output, opset, outputs, include_preprocessing, no_verify, verify_provider, overrides
) -> None:
    """Export a trained model to ONNX: `nnc export RUN_DIR` or `nnc export SPEC --weights RUN_DIR`.

    A run directory exports the spec it was trained with (its own copy, whatever became of the
    file since); a spec named with --weights must be the same network. Unless --no-verify, the
    file is written only after the ONNX checker, shape inference and a run through onnxruntime
    at batch sizes 1 and 7 agree with the NumPy runtime."""
    if include_preprocessing:
        click.echo(
            "note: --include-preprocessing is no longer needed: the graph always takes raw inputs", err=True
        )
    if Path(source).is_dir():
        model = load_run_model(source, overrides)
    elif weights is None:
        raise click.UsageError("exporting a spec needs --weights RUN_DIR (or export the run directory)")
    else:
        model = load_model(source, overrides)
    if weights is not None:
        model.load(weights)
    where = Path(weights or source)
    default = where / "model.onnx" if where.is_dir() else Path(Path(source).stem + ".onnx")
    names = tuple(n.strip() for n in outputs.split(",") if n.strip()) if outputs else ()
    path = model.export(
        output or default, opset=opset, outputs=names, verify=not no_verify, verify_provider=verify_provider
    )
    verified = (
        f" (verified against the NumPy runtime on {verify_provider})"
        if verify_provider != "cpu"
        else (" (verified against the NumPy runtime)")
    )
    click.echo(f"wrote {path}" + ("" if no_verify else verified), err=True)


@click.command()
@click.argument("model_path", metavar="MODEL.onnx", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--data",
    type=click.Path(),
    help="Inputs: .csv, .parquet, .npz (or .npy for one input), or a folder of images or texts.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="predictions.csv, .npy or .npz (default: CSV on stdout).",
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
@click.option("--threads", type=click.IntRange(1), help="Threads onnxruntime may use.")
@click.option("--batch-size", type=click.IntRange(1), default=1024, show_default=True)
def predict(
    model_path, data, output, provider, allow_tf32, verbose, list_providers, threads, batch_size
) -> None:
    """Run MODEL.onnx (from `nnc export`) through onnxruntime on --data.

    Class labels come from the model's metadata. An unavailable --provider is an error, never
    a silent fall-back to CPU."""
    from nnc.runtime.onnx.predict import Predictor, write_predictions
    from nnc.runtime.onnx.session import available_providers

    if list_providers:
        click.echo("\n".join(available_providers()))
        return
    if model_path is None or data is None:
        raise click.UsageError("nnc predict needs MODEL.onnx and --data FILE")
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
