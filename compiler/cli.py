"""The `nnc` command line. Only click and the standard library are imported at start-up, so
`nnc --help` is instant; each command imports what it needs.

Exit codes: 0 success, 1 internal error, 2 usage error (click), 3 invalid spec."""

from __future__ import annotations

import json
import os
import sys

import click

EXIT_SPEC_ERROR = 3
EXIT_INTERNAL_ERROR = 1


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
    """Turns an unexpected exception into a one-line message instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
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
