"""Bind a call's arguments to a Signature: positional in order, then keywords; every value is
checked by its Kind. Unknown keywords, missing and surplus arguments, and bad values all
become diagnostics that point at the argument in question."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nnc.compiler import ast
from nnc.compiler.diagnostics import Diagnostics, did_you_mean
from nnc.compiler.evaluate import EvalFailed, evaluate
from nnc.compiler.source import Span
from nnc.runtime.schema import (
    REQUIRED,
    Arg,
    ArgError,
    CallValue,
    Float,
    Int,
    Ints,
    Named,
    Optional,
    Signature,
    Symbol,
    Table,
    show,
)


class BindFailed(Exception):
    """Binding failed; the diagnostics are recorded. `partial` holds what did bind, with
    defaults in place of the failed arguments, so that one bad setting does not make every
    other setting look unset."""

    def __init__(self, partial: dict[str, Any] | None = None):
        super().__init__("binding failed")
        self.partial = partial or {}


def check_value(
    owner: str, arg: Arg, value: Any, span: Span, scope: Mapping[str, Any], diags: Diagnostics
) -> Any:
    """`value` normalized by `arg.kind`, or a located E303/E203 diagnostic and BindFailed."""
    try:
        checked = arg.kind.check(value)
    except ArgError as e:
        if isinstance(value, Symbol) and (_numeric(arg.kind) or did_you_mean(value.name, scope)):
            diags.error("E203", f"undefined name `{value.name}`", span, help=did_you_mean(value.name, scope))
        else:
            diags.error(
                "E303",
                f"{owner} expects {arg.name} to be {e.expected}. Received: {arg.name}={show(value)}",
                span,
                help=e.help,
            )
        raise BindFailed from None
    if isinstance(checked, CallValue):
        table = _table_of(arg.kind)
        if table is None:  # a kind without a table of calls (a name, a number) took it as is
            diags.error(
                "E303",
                f"{owner} expects {arg.name} to be a value, not a call. Received: {arg.name}={show(value)}",
                span,
            )
            raise BindFailed
        checked = bind_call(table[checked.name], checked.origin, scope, diags, owner=checked.name)
    return checked


def _numeric(kind) -> bool:
    """A bare word where a number belongs can only be a misspelled or missing constant."""
    kind = kind.kind if isinstance(kind, Optional) else kind
    return isinstance(kind, Int | Float | Ints)


def _table_of(kind) -> Mapping[str, Signature] | None:
    """The table of calls a kind takes (an initializer's, a schedule's), None if it takes none."""
    if isinstance(kind, Table):
        return kind.table
    inner = getattr(kind, "kind", None) or next(
        (k for k in getattr(kind, "kinds", ()) if isinstance(k, Table)), None
    )
    return None if inner is None else _table_of(inner)


def bind_arguments(
    signature: Signature,
    args: tuple[ast.Expr, ...],
    kwargs: tuple[ast.KeywordArg, ...],
    call_span: Span,
    scope: Mapping[str, Any],
    diags: Diagnostics,
    *,
    owner: str,
    spans: dict[str, Span] | None = None,
    positional: int | None = None,
) -> dict[str, Any]:
    """Bound values by argument name, defaults included. `spans`, if given, receives the span
    of every argument that was written, for later diagnostics (shape errors). Only the first
    `positional` arguments (default: all) may be given by position; the rest are keyword-only.
    A default may be a `LateDefault`: an expression evaluated with the arguments bound so far."""
    given: dict[str, tuple[ast.Expr, Span]] = {}
    failed = False
    params = signature.args
    limit = len(params) if positional is None else positional
    for i, expr in enumerate(args):
        if i >= limit:
            diags.error(
                "E208",
                f"{owner} takes at most {limit} positional argument"
                f"{'s' if limit != 1 else ''}. Received: {len(args)}",
                expr.span,
                help=_usage(owner, signature),
            )
            failed = True
            break
        given[params[i].name] = (expr, expr.span)
    for kw in kwargs:
        name = kw.name.text
        if signature.arg(name) is None:
            diags.error(
                "E202",
                f"{owner} has no argument `{name}`",
                kw.name.span,
                help=did_you_mean(name, [a.name for a in params]) or _usage(owner, signature),
            )
            failed = True
            continue
        if name in given:
            diags.error("E204", f"argument `{name}` of {owner} is given twice", kw.name.span)
            failed = True
            continue
        given[name] = (kw.value, kw.name.span.to(kw.value.span))
    bound: dict[str, Any] = {}
    for arg in params:
        if arg.name in given:
            expr, span = given[arg.name]
            if spans is not None:
                spans[arg.name] = span
            try:
                bound[arg.name] = check_value(
                    owner, arg, evaluate(expr, scope, diags), expr.span, scope, diags
                )
            except (EvalFailed, BindFailed):
                failed = True
                if arg.default is not REQUIRED and not isinstance(arg.default, LateDefault):
                    bound[arg.name] = arg.default
        elif isinstance(arg.default, LateDefault):
            try:
                bound[arg.name] = evaluate(arg.default.expr, {**arg.default.scope, **bound}, diags)
            except EvalFailed:
                failed = True
        elif arg.default is REQUIRED:
            diags.error(
                "E207",
                f"{owner} is missing the required argument `{arg.name}`",
                call_span,
                help=_usage(owner, signature),
            )
            failed = True
        else:
            bound[arg.name] = arg.default if arg.default is None else arg.kind.check(arg.default)
    if failed:
        raise BindFailed(bound)
    return bound


@dataclass(frozen=True)
class LateDefault:
    """A default written as an expression over earlier arguments: `block b(w, ff=w * 4)`.
    It is evaluated where it was written (`scope`: the constants) plus the bound arguments."""

    expr: ast.Expr
    scope: Mapping[str, Any]


def bind_call(
    signature: Signature, call: ast.Call, scope: Mapping[str, Any], diags: Diagnostics, *, owner: str
) -> Named:
    params = bind_arguments(signature, call.args, call.kwargs, call.span, scope, diags, owner=owner)
    return Named(signature.name, params)


def _usage(owner: str, signature: Signature) -> str:
    parts = [a.name if a.default is REQUIRED else f"{a.name}={show(a.default)}" for a in signature.args]
    return f"usage: {owner}({', '.join(parts)})"
