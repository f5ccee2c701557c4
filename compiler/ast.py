"""Typed syntax tree of a spec. Built by `build_ast` from the parse tree; every node carries
the span of the text it came from. Nothing here validates: that is the passes' job."""

from __future__ import annotations

from dataclasses import dataclass

from nnc.compiler.source import Span


@dataclass(frozen=True)
class Ident:
    text: str
    span: Span


# ---- expressions -------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: int | float | str | bool | None
    span: Span


@dataclass(frozen=True)
class Ref:
    name: str
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str  # "-"
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / // %
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Sequence:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Mapping:
    entries: tuple[tuple[Ident, Expr], ...]
    span: Span


@dataclass(frozen=True)
class KeywordArg:
    name: Ident
    value: Expr


@dataclass(frozen=True)
class Call:
    """`name(args, key=value)`: a layer, loss, optimizer, initializer, schedule or metric."""

    name: Ident
    args: tuple[Expr, ...]
    kwargs: tuple[KeywordArg, ...]
    span: Span


Expr = Literal | Ref | Unary | Binary | Sequence | Mapping | Call


# ---- model statements ----------------------------------------------------------------------
@dataclass(frozen=True)
class TensorType:
    dtype: Ident
    dims: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class InputDecl:
    name: Ident
    type: TensorType | None
    span: Span


@dataclass(frozen=True)
class OutputDecl:
    names: tuple[Ident, ...]
    span: Span


@dataclass(frozen=True)
class LayerCall:
    call: Call
    alias: Ident | None  # `as name`
    bare: bool  # written without parentheses: may also be a value name (`x -> dense(3)`)


@dataclass(frozen=True)
class Chain:
    sources: tuple[Ident, ...] | None  # `[a, b] -> ...`
    calls: tuple[LayerCall, ...]
    span: Span


@dataclass(frozen=True)
class Repeat:
    count: Expr
    body: tuple[Statement, ...]
    span: Span


Statement = InputDecl | OutputDecl | Chain | Repeat


# ---- top-level items ---------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    path: Literal
    span: Span


@dataclass(frozen=True)
class Const:
    name: Ident
    value: Expr
    span: Span


@dataclass(frozen=True)
class Param:
    name: Ident
    default: Expr | None


@dataclass(frozen=True)
class Block:
    name: Ident
    params: tuple[Param, ...]
    body: tuple[Statement, ...]
    span: Span


@dataclass(frozen=True)
class Model:
    name: Ident
    body: tuple[Statement, ...]
    span: Span


@dataclass(frozen=True)
class Loss:
    call: Call
    span: Span


@dataclass(frozen=True)
class Optimizer:
    call: Call
    span: Span


@dataclass(frozen=True)
class Setting:
    key: Ident
    value: Expr
    span: Span


@dataclass(frozen=True)
class Section:
    """`train { ... }` or `data { ... }`: settings, plus calls such as `early_stopping(...)`."""

    kind: Ident
    entries: tuple[Setting | Call, ...]
    span: Span


Item = Import | Const | Block | Model | Loss | Optimizer | Section


@dataclass(frozen=True)
class Spec:
    items: tuple[Item, ...]
    path: str
