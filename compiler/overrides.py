"""`--set KEY=VALUE` overrides, applied to the AST before resolution so that an overridden
value is checked exactly like one written in the spec. KEY is a constant name, or
`train.KEY`, `data.KEY`, `optimizer.KEY` (the spec's optimizer, or the default one when it
names none); VALUE is any spec expression. This is the one way settings are overridden: the
command line's --set and --epochs, and the Python API's fit(epochs=..., lr=...), all come here."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from nnc.compiler import ast
from nnc.compiler.diagnostics import CompileError, Diagnostic, Diagnostics
from nnc.compiler.evaluate import EvalFailed, evaluate
from nnc.compiler.parse import parse_expr
from nnc.compiler.source import Source, Span
from nnc.runtime.optim import DEFAULT_OPTIMIZER

_KEY = re.compile(r"^(?:(train|data|optimizer)\.)?([A-Za-z_][A-Za-z0-9_]*)$")


def _parse_one(text: str) -> tuple[str | None, str, ast.Expr]:
    key, eq, value = text.partition("=")
    match = _KEY.match(key.strip())
    if not eq or match is None:
        raise CompileError(
            [
                Diagnostic(
                    "E202",
                    f"--set expects KEY=VALUE. Received: {text!r}",
                    help="e.g. --set train.epochs=5, --set optimizer.lr=0.01, --set hidden=64",
                )
            ]
        )
    section, name = match.groups()
    source = Source(f"--set {key.strip()}", value.strip())
    return section, name, parse_expr(source)


def setting_overrides(settings: dict[str, Any]) -> tuple[str, ...]:
    """Python values as `--set KEY=VALUE` texts, for the API's fit(epochs=..., lr=...): numbers
    exactly (repr keeps every digit), booleans as spec words, strings quoted; anything else as
    Python shows it, for the compiler to refuse, located. None values are left out."""
    out = []
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = json.dumps(value)
        else:
            text = repr(value)
        out.append(f"{key}={text}")
    return tuple(out)


def _with_setting(section: ast.Section, name: str, value: ast.Expr) -> ast.Section:
    entries = [e for e in section.entries if not (isinstance(e, ast.Setting) and e.key.text == name)]
    key = ast.Ident(name, value.span)
    return replace(section, entries=(*entries, ast.Setting(key, value, value.span)))


def apply_overrides(spec: ast.Spec, overrides: list[str], source: Source) -> tuple[ast.Spec, dict[str, Any]]:
    """The spec with section/optimizer overrides applied, and the constant overrides."""
    consts: dict[str, Any] = {}
    items = list(spec.items)
    diags = Diagnostics()
    for text in overrides:
        section, name, value = _parse_one(text)
        if section is None:
            try:
                consts[name] = evaluate(value, {}, diags)
            except EvalFailed:
                raise CompileError(diags.items) from None
            continue
        if section == "optimizer":
            index = next((i for i, it in enumerate(items) if isinstance(it, ast.Optimizer)), None)
            if index is None:  # the default optimizer, adam, with this argument
                default = ast.Ident(DEFAULT_OPTIMIZER, value.span)
                items.append(ast.Optimizer(ast.Call(default, (), (), value.span), value.span))
                index = len(items) - 1
            call = items[index].call
            kwargs = tuple(k for k in call.kwargs if k.name.text != name)
            items[index] = replace(
                items[index],
                call=replace(call, kwargs=(*kwargs, ast.KeywordArg(ast.Ident(name, value.span), value))),
            )
            continue
        index = next(
            (i for i, it in enumerate(items) if isinstance(it, ast.Section) and it.kind.text == section), None
        )
        if index is None:
            empty = Span(source, len(source.text), len(source.text))
            items.append(ast.Section(ast.Ident(section, empty), (), empty))
            index = len(items) - 1
        items[index] = _with_setting(items[index], name, value)
    return replace(spec, items=tuple(items)), consts
