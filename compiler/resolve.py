"""Resolve a spec's names: follow imports, collect constants and blocks into one namespace
(refusing duplicates), evaluate constants in dependency order (refusing cycles), and pick out
the model and the training items."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnc.compiler import ast
from nnc.compiler.diagnostics import CompileError, Diagnostics
from nnc.compiler.evaluate import EvalFailed, evaluate
from nnc.compiler.source import Source, Span


@dataclass
class Resolved:
    consts: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, ast.Block] = field(default_factory=dict)
    model: ast.Model | None = None
    losses: list[ast.Loss] = field(default_factory=list)
    optimizer: ast.Optimizer | None = None
    train: ast.Section | None = None
    data: ast.Section | None = None
    root: Path = Path(".")  # folder of the main spec: data paths are relative to it


def _names(item: ast.Item) -> ast.Ident | None:
    return item.name if isinstance(item, ast.Const | ast.Block | ast.Model) else None


def _load_imports(
    spec: ast.Spec, diags: Diagnostics, stack: tuple[str, ...], loaded: dict[str, ast.Spec], parse_file
) -> list[ast.Item]:
    """All items of `spec` and of the files it imports (depth first). A file imported twice
    contributes once."""
    items: list[ast.Item] = []
    here = Path(spec.path).resolve().parent
    for item in spec.items:
        if not isinstance(item, ast.Import):
            items.append(item)
            continue
        if "\0" in item.path.value:
            diags.error(
                "E206", f"cannot import {item.path.value!r}: a path holds no NUL character", item.path.span
            )
            continue
        target = str((here / item.path.value).resolve())
        if target in stack:
            chain = " -> ".join(Path(p).name for p in (*stack[stack.index(target) :], target))
            diags.error(
                "E205",
                f"import cycle: {chain}",
                item.path.span,
                help="move the shared blocks into a file that imports neither",
            )
            continue
        if target in loaded:
            continue
        try:
            imported = parse_file(target)
        except CompileError as e:
            for d in e.diagnostics:
                if d.code == "E100":  # the file itself is unreadable: say so at the import
                    diags.error(
                        "E206",
                        f"cannot import `{item.path.value}`: {d.message}",
                        item.path.span,
                        help=f"paths are relative to {here}",
                    )
                else:
                    diags.items.append(d)
            continue
        loaded[target] = imported
        for sub in _load_imports(imported, diags, (*stack, target), loaded, parse_file):
            if not isinstance(sub, ast.Const | ast.Block):
                kind = type(sub).__name__.lower()
                diags.error(
                    "E209",
                    f"an imported file may define only constants and blocks; found a {kind}",
                    sub.span,
                    help=f"imported by {spec.path}:{item.span.line}",
                )
                continue
            items.append(sub)
    return items


def _evaluate_consts(
    consts: dict[str, ast.Const], diags: Diagnostics, overrides: dict[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = dict(overrides)
    visiting: list[str] = []

    def refs(expr) -> list[ast.Ref]:
        if isinstance(expr, ast.Ref):
            return [expr]
        children = []
        for f in ("operand", "left", "right"):
            if hasattr(expr, f):
                children.append(getattr(expr, f))
        children += list(getattr(expr, "items", ()))
        children += list(getattr(expr, "args", ()))
        children += [kw.value for kw in getattr(expr, "kwargs", ())]
        children += [v for _, v in getattr(expr, "entries", ())]
        return [r for c in children for r in refs(c)]

    failed: set[str] = set()

    def visit(name: str) -> None:
        if name in values or name in failed:
            return
        const = consts[name]
        if name in visiting:
            cycle = " -> ".join((*visiting[visiting.index(name) :], name))
            diags.error("E205", f"constant `{name}` depends on itself: {cycle}", const.name.span)
            failed.update(visiting)
            return
        visiting.append(name)
        for ref in refs(const.value):
            if ref.name in consts:
                visit(ref.name)
        visiting.pop()
        if name in failed:
            return
        try:
            values[name] = evaluate(const.value, values, diags)
        except EvalFailed:
            failed.add(name)

    for name in consts:
        visit(name)
    return values


def resolve(
    spec: ast.Spec,
    source: Source,
    diags: Diagnostics,
    parse_file,
    const_overrides: dict[str, Any] | None = None,
) -> Resolved:
    """`parse_file(path) -> ast.Spec` reads imports; `const_overrides` come from --set."""
    root = str(Path(spec.path).resolve())
    out = Resolved(root=Path(spec.path).resolve().parent)
    seen: dict[str, Span] = {}
    consts: dict[str, ast.Const] = {}
    singles = {"optimizer": None, "train": None, "data": None, "model": None}
    for item in _load_imports(spec, diags, (root,), {root: spec}, parse_file):
        name = _names(item)
        if name is not None:
            if name.text in seen:
                diags.error(
                    "E204",
                    f"`{name.text}` is defined twice",
                    name.span,
                    notes=(("first defined here", seen[name.text]),),
                    help="rename one of them",
                )
                continue
            seen[name.text] = name.span
        if isinstance(item, ast.Const):
            consts[item.name.text] = item
        elif isinstance(item, ast.Block):
            out.blocks[item.name.text] = item
        elif isinstance(item, ast.Loss):
            out.losses.append(item)
        else:
            key = item.kind.text if isinstance(item, ast.Section) else type(item).__name__.lower()
            if singles[key] is not None:
                diags.error(
                    "E204",
                    f"`{key}` is given twice; a spec has one",
                    item.span,
                    notes=(("first given here", singles[key].span),),
                )
                continue
            singles[key] = item
    out.model, out.optimizer, out.train, out.data = (
        singles["model"],
        singles["optimizer"],
        singles["train"],
        singles["data"],
    )
    unknown = sorted(set(const_overrides or {}) - set(consts))
    for name in unknown:
        diags.error(
            "E202",
            f"--set {name}=...: the spec has no constant or setting `{name}`",
            help="set a constant by its name, a setting as train.KEY, data.KEY or optimizer.KEY",
        )
    out.consts = _evaluate_consts(consts, diags, const_overrides or {})
    if out.model is None and not diags.has_errors:
        diags.error(
            "E209",
            f"{spec.path} defines no model",
            Span(source, 0, 0),
            help="add `model NAME { input x: float32[...] ... }`",
        )
    return out
