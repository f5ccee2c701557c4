"""The `nnc` command line. Only click and the standard library are imported at start-up, so
`nnc --help` is instant; each command imports what it needs.

Exit codes: 0 success, 1 internal error, 2 usage error (click), 3 invalid spec, 4 bad data or
weights, 5 training failed (a non-finite loss, a run that cannot be resumed), 130 interrupted
(Ctrl-C; training saves a checkpoint first)."""

from __future__ import annotations

import json
import os
import sys

import click

EXIT_SPEC_ERROR = 3
EXIT_INTERNAL_ERROR = 1
EXIT_DATA_ERROR = 4
EXIT_TRAINING_ERROR = 5
EXIT_INTERRUPTED = 130


def _color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _report(diagnostics) -> None:
    from nnc.compiler.diagnostics import ERROR, render_text

    ordered = sorted(diagnostics, key=lambda d: d.severity != ERROR)
    color = _color(sys.stderr)
    for d in ordered:
        click.echo(render_text(d, color=color), err=True)
    errors = sum(d.severity == ERROR for d in diagnostics)
    if errors:
        click.echo(f"{errors} error{'s' if errors != 1 else ''}", err=True)


def _compile(spec: str, overrides: tuple[str, ...], fmt: str, indent: int | None = 2):
    """The compiled spec, or diagnostics reported and exit code 3."""
    from nnc.compiler.diagnostics import CompileError, to_dict
    from nnc.compiler.pipeline import compile_file

    try:
        return compile_file(spec, overrides)
    except CompileError as e:
        if fmt == "json":
            click.echo(
                json.dumps({"ok": False, "diagnostics": [to_dict(d) for d in e.diagnostics]}, indent=indent)
            )
        else:
            _report(e.diagnostics)
        sys.exit(EXIT_SPEC_ERROR)


class _Group(click.Group):
    """Turns a runtime refusal into a located message and its exit code, Ctrl-C into 130, and
    an unexpected exception into a one-line message instead of a traceback."""

    def invoke(self, ctx):
        from nnc.runtime.errors import RunError

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except RunError as e:
            _report_run_error(e, getattr(ctx, "layer_spans", None))
            sys.exit(EXIT_DATA_ERROR if e.code.startswith("E4") else EXIT_TRAINING_ERROR)
        except KeyboardInterrupt:
            click.echo("nnc: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as e:  # noqa: BLE001 - the last line of defence for users
            click.echo(
                f"nnc: internal error: {type(e).__name__}: {e}\n"
                "This is a bug in nnc; please report it with the spec that caused it.",
                err=True,
            )
            sys.exit(EXIT_INTERNAL_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nnc")
def main() -> None:
    """nnc: describe a neural network in a .nn spec, check it, train it, ship it as ONNX."""


_SET = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a constant or a setting: hidden=64, train.epochs=5, optimizer.lr=0.01, "
    'data.train="other.csv". Repeatable.',
)


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--ir", "show_ir", is_flag=True, help="Print the typed IR instead of the summary.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="json: the summary and diagnostics as one JSON object per spec on stdout.",
)
@click.option("--json", "as_json", is_flag=True, help="Shorthand for --format json.")
@_SET
def check(specs: tuple[str, ...], show_ir: bool, fmt: str, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Check each SPEC and show what the network is: layers, shapes, parameters, training setup.

    Exits with 3 when a spec has errors, each reported as file:line:col with a caret."""
    fmt = "json" if as_json else fmt
    failed = False
    for spec in specs:
        try:
            # Several specs in JSON: one object per line (JSON Lines).
            _check_one(spec, show_ir, fmt, overrides, indent=2 if len(specs) == 1 else None)
        except SystemExit as e:
            if e.code != EXIT_SPEC_ERROR:
                raise
            failed = True
    if failed:
        sys.exit(EXIT_SPEC_ERROR)


def _check_one(spec: str, show_ir: bool, fmt: str, overrides: tuple[str, ...], indent: int | None) -> None:
    compiled = _compile(spec, overrides, fmt, indent)
    from nnc.compiler.diagnostics import to_dict
    from nnc.compiler.ir import format_program
    from nnc.compiler.summary import format_summary, summarize

    if fmt == "json":
        out = {
            "ok": True,
            "diagnostics": [to_dict(d) for d in compiled.warnings],
            "summary": summarize(compiled.program),
        }
        if show_ir:
            out["ir"] = format_program(compiled.program)
        click.echo(json.dumps(out, indent=indent))
        return
    _report(compiled.warnings)
    summary = format_summary(summarize(compiled.program))
    click.echo(format_program(compiled.program) if show_ir else summary, nl=False)


_TARGET = click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="[NAME=]COLUMN",
    help="Read a loss target from this data column (or .npz array) instead of the one the spec "
    "names; NAME=COLUMN when the model has several targets. Repeatable.",
)


def _columns(model, targets: tuple[str, ...]) -> dict[str, str]:
    """--target values as {spec target: data column}."""
    inputs = {i.name for i in model.program.graph.inputs}
    names = [n for n in dict.fromkeys(t.target for t in model.program.train.losses) if n not in inputs]
    columns = {}
    for text in targets:
        name, eq, column = text.rpartition("=")
        if not eq:
            if len(names) != 1:
                raise click.UsageError(
                    f"--target {text}: the model has targets {', '.join(names)}; use NAME=COLUMN"
                )
            name = names[0]
        if name not in names:
            raise click.UsageError(
                f"--target {text}: `{name}` is not a target of the model ({', '.join(names)})"
            )
        columns[name] = column
    return columns


def _report_run_error(error, spans=None) -> None:
    from nnc.compiler.diagnostics import from_run_error

    _report([from_run_error(error, spans)])


def _load_model(spec: str, overrides: tuple[str, ...]):
    """The compiled spec as a Model, or diagnostics reported and exit code 3."""
    compiled = _compile(spec, overrides, "text")
    _report(compiled.warnings)
    from nnc.model import Model

    # A runtime error about a layer (a non-finite output, an op without a kernel) points at
    # the layer in the spec.
    click.get_current_context().find_root().layer_spans = {
        n.name: n.span for n in compiled.program.graph.nodes
    }
    return Model(compiled.program, open(spec, encoding="utf-8").read(), overrides)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--data", type=click.Path(dir_okay=False), help="Training data instead of the spec's data.train."
)
@click.option("--epochs", type=click.IntRange(1), help="Number of epochs (overrides train.epochs).")
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
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--verbose", "-v", is_flag=True, help="Also print sizes, the run directory and the lr.")
@_TARGET
@_SET
def train(
    spec,
    data,
    epochs,
    batch_size,
    lr,
    seed,
    out,
    resume,
    overwrite,
    init_weights,
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
    model = _load_model(spec, overrides)
    model.columns = _columns(model, targets)
    progress = Progress(sys.stderr, verbosity=0 if quiet else 2 if verbose else 1)
    try:
        try:
            model.fit(
                data,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                seed=seed,
                out=out,
                overwrite=overwrite,
                resume=resume,
                init_weights=init_weights,
                progress=progress,
            )
        finally:
            progress.close()  # end a live bar's line before any message about why it stopped
    except Interrupted:
        click.echo("nnc: interrupted; checkpoint saved, continue with --resume", err=True)
        sys.exit(EXIT_INTERRUPTED)


@main.command(name="eval")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--weights",
    required=True,
    type=click.Path(exists=True),
    help="A run directory, a folder written by Model.save, or a weights .npz.",
)
@click.option(
    "--data", type=click.Path(dir_okay=False), help="Data to evaluate on (default: the spec's data.test)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_TARGET
@_SET
def evaluate(spec, weights, data, fmt, targets, overrides) -> None:
    """Loss and metrics of trained weights on a data set, with a confusion matrix for each
    classification output."""
    model = _load_model(spec, overrides)
    model.columns = _columns(model, targets)
    logs = model.load(weights).evaluate(data)
    if fmt == "json":
        click.echo(json.dumps(logs, indent=2))
        return
    confusion = logs.pop("confusion", {})
    click.echo(f"{logs.pop('samples')} samples")
    for key, value in logs.items():
        click.echo(f"{key:<16} {value:.4f}")
    for output, matrix in confusion.items():
        click.echo(f"confusion matrix of {output} (rows: true class, columns: predicted)")
        labels = model.labels.get(_target_of(model, output)) or [str(i) for i in range(len(matrix))]
        width = max(5, *(len(x) for x in labels), *(len(str(v)) for row in matrix for v in row)) + 1
        click.echo(" " * width + "".join(f"{x:>{width}}" for x in labels))
        for label, row in zip(labels, matrix, strict=True):
            click.echo(f"{label:>{width}}" + "".join(f"{v:>{width}}" for v in row))


def _target_of(model, output: str) -> str:
    return next(t.target for t in model.program.train.losses if t.prediction == output)


@main.command()
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
@_SET
def export(source, weights, output, opset, outputs, include_preprocessing, no_verify, overrides) -> None:
    """Export a trained model to ONNX: `nnc export RUN_DIR` or `nnc export SPEC --weights RUN_DIR`.

    Unless --no-verify, the file is written only after the ONNX checker, shape inference and a
    run through onnxruntime at batch sizes 1 and 7 agree with the NumPy runtime."""
    from pathlib import Path

    if Path(source).is_dir():
        run = Path(source)
        info = json.loads((run / "model.json").read_text()) if (run / "model.json").exists() else {}
        spec = info.get("spec") if info.get("spec") and Path(info["spec"]).exists() else str(run / "spec.nn")
        weights = weights or str(run)
    else:
        spec = source
        if weights is None:
            raise click.UsageError("exporting a spec needs --weights RUN_DIR (or export the run directory)")
    default = Path(weights) / "model.onnx" if Path(weights).is_dir() else Path(Path(spec).stem + ".onnx")
    if include_preprocessing:
        click.echo(
            "note: --include-preprocessing is no longer needed: the graph always takes raw inputs", err=True
        )
    model = _load_model(spec, overrides).load(weights)
    names = tuple(n.strip() for n in outputs.split(",") if n.strip()) if outputs else ()
    path = model.export(
        output or default,
        opset=opset,
        outputs=names,
        verify=not no_verify,
    )
    click.echo(f"wrote {path}" + ("" if no_verify else " (verified against the NumPy runtime)"), err=True)


@main.command()
@click.argument("model_path", metavar="MODEL.onnx", type=click.Path(dir_okay=False), required=False)
@click.option("--data", type=click.Path(dir_okay=False), help="Inputs: .csv, .npz (or .npy for one input).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="predictions.csv, .npy or .npz (default: CSV on stdout).",
)
@click.option(
    "--provider", default="cpu", show_default=True, help="Execution provider: cpu, cuda, tensorrt, ..."
)
@click.option("--list-providers", is_flag=True, help="List the execution providers available here and exit.")
@click.option("--threads", type=click.IntRange(1), help="Threads onnxruntime may use.")
@click.option("--batch-size", type=click.IntRange(1), default=1024, show_default=True)
def predict(model_path, data, output, provider, list_providers, threads, batch_size) -> None:
    """Run MODEL.onnx (from `nnc export`) through onnxruntime on --data.

    Class labels come from the model's metadata. An unavailable
    --provider is an error, never a silent fall-back to CPU."""
    from pathlib import Path

    from nnc.runtime.onnx.predict import Predictor, available_providers, predictions_csv, write_predictions

    if list_providers:
        click.echo("\n".join(available_providers()))
        return
    if model_path is None or data is None:
        raise click.UsageError("nnc predict needs MODEL.onnx and --data FILE")
    predictor = Predictor(model_path, provider=provider, threads=threads)
    if output is not None and output.lower().endswith(".npy") and len(predictor.outputs) != 1:
        raise click.UsageError(f"the model has {len(predictor.outputs)} outputs; write .npz or .csv")
    live = sys.stderr.isatty()

    def on_batch(done):
        if live:
            click.echo(f"\r{done} samples", err=True, nl=False)

    outputs = predictor.run_file(data, batch_size=batch_size, on_batch=on_batch)
    if live:
        click.echo("", err=True)
    if output is None:
        click.echo(predictions_csv(predictor, outputs), nl=False)
    else:
        write_predictions(predictor, outputs, Path(output))
