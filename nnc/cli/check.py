"""`nnc check`: compile specs and show what each network is."""

from __future__ import annotations

import json

import click

from nnc.cli.common import EXIT_SPEC_ERROR, SET, report


@click.command()
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
@SET
def check(specs: tuple[str, ...], show_ir: bool, fmt: str, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Check each SPEC and show what the network is: layers, shapes, parameters, training setup.

    Exits with 3 when a spec has errors, each reported as file:line:col with a caret."""
    fmt = "json" if as_json else fmt
    # Several specs in JSON: one object per line (JSON Lines).
    indent = 2 if len(specs) == 1 else None
    results = [_check_one(spec, show_ir, fmt, overrides, indent) for spec in specs]
    if not all(results):
        raise SystemExit(EXIT_SPEC_ERROR)


def _check_one(spec: str, show_ir: bool, fmt: str, overrides: tuple[str, ...], indent: int | None) -> bool:
    """Prints one spec's summary (or IR), or its diagnostics; whether it is valid."""
    from nnc.compiler.diagnostics import CompileError, to_dict
    from nnc.compiler.ir import format_program
    from nnc.compiler.pipeline import compile_file
    from nnc.compiler.summary import format_summary, summarize

    try:
        compiled = compile_file(spec, overrides)
    except CompileError as e:
        if fmt == "json":
            click.echo(
                json.dumps({"ok": False, "diagnostics": [to_dict(d) for d in e.diagnostics]}, indent=indent)
            )
        else:
            report(e.diagnostics)
        return False
    if fmt == "json":
        out = {
            "ok": True,
            "diagnostics": [to_dict(d) for d in compiled.warnings],
            "summary": summarize(compiled.program),
        }
        if fitted := _fitted(compiled):
            out["fitted"] = dict(fitted)
        if show_ir:
            out["ir"] = format_program(compiled.program)
        click.echo(json.dumps(out, indent=indent))
        return True
    report(compiled.warnings)
    text = format_program(compiled.program) if show_ir else format_summary(summarize(compiled.program))
    click.echo(text, nl=False)
    if not show_ir and (fitted := _fitted(compiled)):
        click.echo(f"\nfitted on the training split of {compiled.program.train.data.train}")
        width = max(len(layer) for layer, _ in fitted)
        for layer, what in fitted:
            click.echo(f"  {layer:<{width}}  {what}")
    return True


def _fitted(compiled) -> list[tuple[str, str]]:
    """What training would fit (vocabularies, fill values, statistics), when the spec's
    training data (a file or a folder) holds at most 64 MiB and reads without error (training
    says what is wrong with data that does not); empty otherwise."""
    from pathlib import Path

    from nnc.model import Model
    from nnc.runtime.data import CLASS_NAMES_LIMIT, DataError

    program = compiled.program
    source = program.train.data.train
    if not any(p.fitted for p in program.graph.params) or not isinstance(source, str):
        return []
    path = Path(program.train.data.root) / source
    if not path.exists() or _size(path, CLASS_NAMES_LIMIT) > CLASS_NAMES_LIMIT:
        return []
    try:
        return Model(program, "", (), compiled.warnings, compiled.imports).describe_preprocessing()
    except DataError:
        return []


def _size(path, limit: int) -> int:
    """Bytes in a file, or in a folder's files: counted until past `limit`."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for file in path.rglob("*"):
        total += file.stat().st_size if file.is_file() else 0
        if total > limit:
            break
    return total
