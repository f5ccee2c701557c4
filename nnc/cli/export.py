"""`nnc export`: a trained model to ONNX, verified against the NumPy runtime."""

from __future__ import annotations

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
