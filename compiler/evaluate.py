"""Constant expressions -> Python values. A name that is not a constant or block parameter
evaluates to a `Symbol` (a bare word such as `same`); the binder decides whether a word is
acceptable where it stands, so a misspelled constant is reported there with a suggestion."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

from nnc.compiler import ast
from nnc.compiler.diagnostics import Diagnostics, did_you_mean
from nnc.runtime.schema import CallValue, Symbol, show


class EvalFailed(Exception):
    """An expression could not be evaluated; its diagnostic has already been recorded."""


_ARITHMETIC = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
}


MAX_INT = 2**63 - 1  # an integer a spec writes or computes fits int64


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def evaluate(expr: ast.Expr, scope: Mapping[str, Any], diags: Diagnostics) -> Any:
    if isinstance(expr, ast.Literal):
        return expr.value
    if isinstance(expr, ast.Ref):
        return scope[expr.name] if expr.name in scope else Symbol(expr.name)
    if isinstance(expr, ast.Sequence):
        return tuple(evaluate(item, scope, diags) for item in expr.items)
    if isinstance(expr, ast.Mapping):
        return {key.text: evaluate(value, scope, diags) for key, value in expr.entries}
    if isinstance(expr, ast.Call):
        args = tuple(evaluate(a, scope, diags) for a in expr.args)
        kwargs = tuple((k.name.text, evaluate(k.value, scope, diags)) for k in expr.kwargs)
        return CallValue(expr.name.text, args, kwargs, origin=expr)
    if isinstance(expr, ast.Unary):
        value = evaluate(expr.operand, scope, diags)
        if not _is_number(value):
            _not_a_number(expr.operand, value, scope, diags)
        return -value
    if isinstance(expr, ast.Binary):
        left = evaluate(expr.left, scope, diags)
        right = evaluate(expr.right, scope, diags)
        if expr.op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        for side, value in ((expr.left, left), (expr.right, right)):
            if not _is_number(value):
                _not_a_number(side, value, scope, diags)
        if expr.op in ("/", "//", "%") and right == 0:
            diags.error("E306", f"division by zero in `{show(left)} {expr.op} {show(right)}`", expr.span)
            raise EvalFailed
        try:
            result = _ARITHMETIC[expr.op](left, right)
        except OverflowError:
            result = None
        too_large = isinstance(result, int) and abs(result) > MAX_INT
        if result is None or too_large or (isinstance(result, float) and not math.isfinite(result)):
            shown = f"`{show(left)} {expr.op} {show(right)}`"
            diags.error(
                "E306", f"{shown} is beyond the numbers a spec holds (int64, finite floats)", expr.span
            )
            raise EvalFailed
        return result
    raise AssertionError(f"evaluate: unhandled expression {type(expr).__name__}")


def _not_a_number(expr: ast.Expr, value: Any, scope: Mapping[str, Any], diags: Diagnostics) -> None:
    if isinstance(value, Symbol):
        diags.error(
            "E203",
            f"undefined name `{value.name}`",
            expr.span,
            help=did_you_mean(value.name, scope) or "define it with `const name = value`",
        )
    else:
        diags.error("E306", f"arithmetic needs numbers. Received: {show(value)}", expr.span)
    raise EvalFailed
