"""Text -> AST. Syntax errors become E1xx diagnostics that name what was expected."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nnc.compiler import ast
from nnc.compiler.build_ast import build_ast, build_expr
from nnc.compiler.diagnostics import CompileError, Diagnostic, did_you_mean
from nnc.compiler.source import Source, Span

# Terminal names a person understands; punctuation is shown as itself.
_KIND_NAMES = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "end of file"}


def read_source(path: str | Path) -> Source:
    """Read a spec file; an unreadable file is an E100 diagnostic, not an OSError."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise CompileError([Diagnostic("E100", f"`{path}` is a directory, not a spec file")])
        if not stat.S_ISREG(mode):  # a device or a pipe could be read forever
            raise CompileError([Diagnostic("E100", f"`{path}` is not a regular file, so not a spec")])
        data = Path(path).read_bytes()
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise CompileError([Diagnostic("E100", f"spec file `{path}` does not exist")]) from None
    except UnicodeDecodeError as e:
        # Located like any mistake: the text up to the bad byte decodes, and shows where it is.
        shown = Source(str(path), data.decode("utf-8", errors="replace"))
        at = len(data[: e.start].decode("utf-8", errors="replace"))
        raise CompileError(
            [
                Diagnostic(
                    "E100",
                    f"spec file `{path}` is not UTF-8 text: byte {e.start} ({data[e.start]:#04x}) {e.reason}",
                    Span(shown, at, at + 1),
                    help="save the spec as UTF-8",
                )
            ]
        ) from None
    except OSError as e:
        raise CompileError([Diagnostic("E100", f"cannot read spec file `{path}`: {e.strerror}")]) from None
    return Source(str(path), text)


def _describe(parser, terminal: str) -> str:
    if terminal in _KIND_NAMES:
        return _KIND_NAMES[terminal]
    for term in parser.terminals:
        if term.name == terminal:
            pattern = term.pattern
            if pattern.type == "str":
                return f"`{pattern.value}`"
            # Keywords are regexes `word\b`: show the word.
            return f"`{pattern.value.removesuffix(chr(92) + 'b')}`"
    return terminal


_OPERATORS = {"`+`", "`-`", "`*`", "`/`", "`//`", "`%`"}


def _expected(parser, terminals) -> str:
    names = {_describe(parser, t) for t in terminals}
    # After a complete expression every operator could follow: say so once, last.
    operators = names & _OPERATORS
    names = sorted(names - _OPERATORS) + (["an operator"] if len(operators) > 1 else sorted(operators))
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names)


_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _unclosed(text: str) -> int | None:
    """The offset of the bracket that is never closed: the innermost one still open where a
    closing bracket of another kind meets it, or at the end of the text. Strings and comments
    are skipped. None when every bracket is closed (or a closing one has no opener at all)."""
    stack: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
            continue
        if ch == '"':
            end = text.find('"', i + 1)
            newline = text.find("\n", i + 1)
            i = len(text) if end < 0 or (0 <= newline < end) else end + 1
            continue
        if ch in _CLOSERS:
            stack.append(i)
        elif ch in _CLOSERS.values():
            if stack and _CLOSERS[text[stack[-1]]] == ch:
                stack.pop()
            elif any(_CLOSERS[text[j]] == ch for j in stack):
                return stack[-1]
            else:
                return None
        i += 1
    return stack[-1] if stack else None


def _syntax_error(parser, error, source: Source) -> Diagnostic:
    """The diagnostic of a syntax error: an unclosed bracket before it is reported at the
    bracket (the error is only where the parser noticed), else what was expected there."""
    at = getattr(error, "pos_in_stream", None)
    if at is not None and source.text[at] == '"':  # an unterminated string: that is the mistake
        return _unexpected(parser, error, source)
    if at is None:
        token = getattr(error, "token", None)
        at = len(source.text) if token is None or token.type == "$END" else token.start_pos
    opened = _unclosed(source.text)
    if opened is not None and opened <= at:
        bracket = source.text[opened]
        span = Span(source, opened, opened + 1)
        noticed = Span(source, min(at, len(source.text)), min(at + 1, len(source.text)))
        return Diagnostic(
            "E106",
            f"`{bracket}` opened at {span.line}:{span.column} is never closed",
            span,
            help=f"close it with `{_CLOSERS[bracket]}`",
            notes=(("where the parser stopped", noticed),),
        )
    return _unexpected(parser, error, source)


def _unexpected(parser, error, source: Source) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    end = Span(source, len(source.text), len(source.text))
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        return Diagnostic(
            "E103", "unexpected end of file", end, help=f"expected {_expected(parser, error.expected)}"
        )
    if isinstance(error, UnexpectedCharacters):
        pos = error.pos_in_stream
        char = source.text[pos]
        if char == '"':
            line_end = source.text.find("\n", pos)
            span = Span(source, pos, line_end if line_end >= 0 else len(source.text))
            return Diagnostic(
                "E104", "unterminated string", span, help='close the string with `"` on the same line'
            )
        return Diagnostic(
            "E101",
            f"unexpected character `{char}`",
            Span(source, pos, pos + 1),
            help=f"expected {_expected(parser, error.allowed)}" if error.allowed else None,
        )
    assert isinstance(error, UnexpectedToken)
    token = error.token
    span = Span(source, token.start_pos, token.end_pos)
    keywords = [
        _describe(parser, t).strip("`")
        for t in error.expected
        if t.isupper() and t.isalpha() and t not in _KIND_NAMES
    ]
    help = None
    if token.type == "NAME" and keywords:
        help = did_you_mean(str(token), keywords)
    if help is None and "COMMA" in error.expected and token.type in ("NAME", "NUMBER", "STRING"):
        help = "separate arguments with `,`"
    shown = f"`{token}`" if token.type not in ("STRING",) else "a string"
    return Diagnostic(
        "E102", f"unexpected {shown}; expected {_expected(parser, error.expected)}", span, help=help
    )


def parse_source(source: Source) -> ast.Spec:
    from lark.exceptions import UnexpectedInput
    from nnc.grammar import load_parser

    parser = load_parser()
    try:
        tree = parser.parse(source.text, start="start")
    except UnexpectedInput as e:
        raise CompileError([_syntax_error(parser, e, source)]) from None
    return build_ast(tree, source)


def parse_expr(source: Source) -> ast.Expr:
    """Parse a lone expression, e.g. the value of `--set train.epochs=10`."""
    from lark.exceptions import UnexpectedInput
    from nnc.grammar import load_parser

    parser = load_parser()
    try:
        tree = parser.parse(source.text, start="expr")
    except UnexpectedInput as e:
        raise CompileError([_syntax_error(parser, e, source)]) from None
    return build_expr(tree, source)
