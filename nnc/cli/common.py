"""What every command shares: exit codes, the one place diagnostics are printed, the error
handling that turns a refusal into a located message, and the options several commands take.
Only click and the standard library are imported here, so `nnc --help` stays instant."""

from __future__ import annotations

import os
import sys
import warnings

import click

EXIT_INTERNAL_ERROR = 1
EXIT_USAGE_ERROR = 2
EXIT_SPEC_ERROR = 3
EXIT_DATA_ERROR = 4
EXIT_TRAINING_ERROR = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a tool the pipe's reader stopped reading from


def report(diagnostics) -> None:
    """Diagnostics on stderr, errors first, coloured on a terminal unless NO_COLOR is set."""
    from nnc.compiler.diagnostics import ERROR, render_text

    color = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    for d in sorted(diagnostics, key=lambda d: d.severity != ERROR):
        click.echo(render_text(d, color=color), err=True)
    errors = sum(d.severity == ERROR for d in diagnostics)
    if errors:
        click.echo(f"{errors} error{'s' if errors != 1 else ''}", err=True)


class Group(click.Group):
    """Turns an invalid spec into its diagnostics and exit code 3, a runtime refusal into a
    located message and its exit code, Ctrl-C into 130, a closed pipe into a quiet 141, and an
    unexpected exception into a one-line message instead of a traceback."""

    def invoke(self, ctx):
        try:
            return self._invoke(ctx)
        except BrokenPipeError:
            # `nnc eval ... | head -2`: the reader has what it wanted, also when what it stopped
            # reading was an error message. Say nothing, and keep Python from complaining when
            # it flushes stdout and stderr on the way out.
            for stream in (sys.stdout, sys.stderr):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            sys.exit(EXIT_BROKEN_PIPE)

    def _invoke(self, ctx):
        from nnc.compiler.diagnostics import ERROR, CompileError, from_run_error
        from nnc.runtime.errors import RunError, UsageError

        try:
            with warnings.catch_warnings():
                warnings.showwarning = _note
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except CompileError as e:
            report(e.diagnostics)
            # The spec's data files, checked as it compiles: bad data is bad data (exit 4)
            # whether the file came from the spec or from --data.
            codes = [d.code for d in e.diagnostics if d.severity == ERROR]
            sys.exit(EXIT_DATA_ERROR if codes and all(c.startswith("E4") for c in codes) else EXIT_SPEC_ERROR)
        except RunError as e:
            report([from_run_error(e, getattr(ctx, "layer_spans", None))])
            if isinstance(e, UsageError):
                sys.exit(EXIT_USAGE_ERROR)
            sys.exit(EXIT_DATA_ERROR if e.code.startswith("E4") else EXIT_TRAINING_ERROR)
        except BrokenPipeError:
            raise  # to invoke, which says nothing
        except KeyboardInterrupt:
            click.echo("nnc: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as e:  # noqa: BLE001 - the last line of defence for users
            if isinstance(e, OSError) and e.filename:
                # a path the system refused (a read-only folder, a file where a folder should
                # be, a full disk): the user's to change, not a bug
                from pathlib import Path

                path, why = e.filename2 or e.filename, e.strerror or str(e)
                if any(p.is_file() for p in Path(path).parents):  # not a folder, or exists
                    why = "a file is there, where a folder would go"
                click.echo(f"nnc: error: cannot use {path}: {why}", err=True)
                click.echo("help: choose another path, or make its folder writable", err=True)
                sys.exit(EXIT_USAGE_ERROR)
            click.echo(
                f"nnc: internal error: {type(e).__name__}: {e}\n"
                "This is a bug in nnc; please report it with the spec that caused it.",
                err=True,
            )
            sys.exit(EXIT_INTERNAL_ERROR)


def _note(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning from nnc (columns read past) as a note on stderr, without Python's source line."""
    click.echo(f"note: {message}", err=True)


def load_model(spec: str, overrides: tuple[str, ...], *, reads: tuple[str, ...] = (), settles=()):
    """The spec compiled into a Model, its warnings printed. A runtime error about a layer (a
    non-finite output) then points at the layer in the spec. `reads` names the data splits of
    the spec the command reads: a file among them that does not exist, which `nnc check` only
    warns about (it may be written later), is refused here at the spec's line — one message.
    `settles` names warnings the command decides itself, refusing where they would come true
    (train: W308, memory, at its own batch size), which are therefore not printed."""
    from pathlib import Path

    import nnc

    model = nnc.load(Path(spec), overrides)
    model.warnings = tuple(w for w in model.warnings if w.code not in settles)
    spans = model.program.train.data.spans
    needed = {spans[split] for split in reads if split in spans}
    missing = [w for w in model.warnings if w.code == "W401" and w.span in needed]
    if missing:
        from dataclasses import replace

        from nnc.compiler.diagnostics import ERROR

        others = [w for w in model.warnings if w not in missing]
        report([replace(w, code="E403", severity=ERROR) for w in missing] + others)
        sys.exit(EXIT_DATA_ERROR)
    return _loaded(model)


def load_run_model(run_dir: str, overrides: tuple[str, ...]):
    """The model of a run directory, as it was trained (nnc.load_run), its warnings printed."""
    import nnc

    return _loaded(nnc.load_run(run_dir, overrides))


def _loaded(model):
    report(model.warnings)
    click.get_current_context().find_root().layer_spans = {n.name: n.span for n in model.program.graph.nodes}
    return model


SET = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a constant or a setting: hidden=64, train.epochs=5, optimizer.lr=0.01, "
    'data.train="other.csv". Repeatable.',
)
TARGET = click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="[NAME=]COLUMN",
    help="Read a loss target from this data column (or .npz array) instead of the one the spec "
    "names; NAME=COLUMN when the model has several targets. Repeatable.",
)


def target_columns(model, texts: tuple[str, ...]) -> dict[str, str]:
    """--target values as {spec target: data column}."""
    names = model.targets
    columns = {}
    for text in texts:
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
