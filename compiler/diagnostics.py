"""Diagnostics are values: stages collect them, and only `render_text`/`render_json` format
them. Codes by stage: E1 syntax, E2 names, E3 types and shapes, E4 data, E5 training."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from nnc.compiler.source import Span

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    help: str | None = None
    notes: tuple[tuple[str, Span | None], ...] = ()
    severity: str = ERROR
    path: str | None = None  # a file the message is about when there is no span (an .npz)


@dataclass
class Diagnostics:
    """A stage's collector: several independent errors are reported in one run."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        # The same mistake in a block or repeat body is found once per expansion: report it once.
        if diagnostic not in self.items:
            self.items.append(diagnostic)

    def error(
        self,
        code: str,
        message: str,
        span: Span | None = None,
        *,
        help: str | None = None,
        notes: tuple[tuple[str, Span | None], ...] = (),
    ) -> None:
        self.add(Diagnostic(code, message, span, help, notes))

    def warning(self, code: str, message: str, span: Span | None = None, *, help: str | None = None) -> None:
        self.add(Diagnostic(code, message, span, help, severity=WARNING))

    @property
    def has_errors(self) -> bool:
        return any(d.severity == ERROR for d in self.items)


class CompileError(Exception):
    """Raised by the pipeline after the first stage that found errors."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(f"{len(diagnostics)} diagnostic(s)")
        self.diagnostics = diagnostics

    def __str__(self) -> str:
        # A Python caller sees what the command line would print.
        return "\n".join(render_text(d) for d in self.diagnostics)


def _location(span: Span | None, path: str | None = None) -> str:
    if span is None:
        return path or "nnc"
    return f"{span.source.path}:{span.line}:{span.column}"


def _snippet(span: Span, color: bool) -> list[str]:
    line, col = span.line, span.column
    text = span.source.line_text(line)
    # A span that runs past its first line is underlined to the end of that line.
    width = max(1, min(span.end - span.start, len(text) - col + 1))
    gutter = " " * len(str(line))
    carets = "^" * width
    if color:
        carets = f"\x1b[1;31m{carets}\x1b[0m"
    return [f"{gutter} |", f"{line} | {text.expandtabs(1)}", f"{gutter} | {' ' * (col - 1)}{carets}"]


def render_text(diagnostic: Diagnostic, *, color: bool = False) -> str:
    severity = diagnostic.severity
    if color:
        tint = "31" if severity == ERROR else "33"
        severity = f"\x1b[1;{tint}m{severity}\x1b[0m"
    where = _location(diagnostic.span, diagnostic.path)
    lines = [f"{where}: {severity}[{diagnostic.code}]: {diagnostic.message}"]
    if diagnostic.span is not None:
        lines += _snippet(diagnostic.span, color)
    for note, span in diagnostic.notes:
        where = f"{_location(span)}: " if span is not None else ""
        lines.append(f"note: {where}{note}")
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    return "\n".join(lines)


def to_dict(diagnostic: Diagnostic) -> dict:
    span = diagnostic.span
    out: dict = {"severity": diagnostic.severity, "code": diagnostic.code, "message": diagnostic.message}
    if span is not None:
        end_line, end_col = span.source.position(span.end)
        out.update(
            file=span.source.path, line=span.line, column=span.column, end_line=end_line, end_column=end_col
        )
    elif diagnostic.path is not None:
        out["file"] = diagnostic.path
    if diagnostic.help:
        out["help"] = diagnostic.help
    if diagnostic.notes:
        out["notes"] = [note for note, _ in diagnostic.notes]
    return out


def render_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps([to_dict(d) for d in diagnostics], indent=2)


def did_you_mean(name: str, candidates) -> str | None:
    """A `help:` suggestion for a misspelled name, or None when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def from_run_error(error, spans: dict | None = None) -> Diagnostic:
    """A runtime refusal (nnc.runtime.errors.RunError) as a diagnostic. A file location becomes
    a span over the offending cell, so a bad CSV cell is shown with its line and a caret (over
    the whole line when the error has no column: a header with too few columns);
    `spans` maps layer names to spec spans for errors about a layer (a non-finite output)."""
    span = None
    if spans and error.layer in spans:
        span = spans[error.layer]
    elif error.path is not None and error.line is not None:
        span = _file_span(error.path, error.line, error.column)
    return Diagnostic(error.code, error.message, span, error.help, path=error.path)


def _file_span(path: str, line: int, column: int | None) -> Span | None:
    from nnc.compiler.source import Source

    try:
        # utf-8-sig, as the CSV loader decodes: a byte-order mark must not shift line 1's columns.
        text = open(path, encoding="utf-8-sig", errors="replace").read()
    except OSError:
        return None
    source = Source(path, text)
    start = source.offset(line, column or 1)
    if start is None:
        return None
    end = start
    stops = "\n\r" if column is None else ",\n\r"
    while end < len(text) and text[end] not in stops:
        end += 1
    return Span(source, start, max(end, start + 1))
