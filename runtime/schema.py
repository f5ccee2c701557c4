"""Argument schemas: what a layer, loss, optimizer, initializer, schedule or metric accepts.

A `Signature` is an ordered list of `Arg`s; each `Arg` has a `Kind` that checks and
normalizes one value. The compiler binds spec arguments against signatures; the runtime
receives the normalized values. Values are plain Python: int, float, bool, str, None,
tuples, `Symbol` (a bare word such as `same` or `val_loss`) and `Named` (a configured
choice from a table, such as the initializer `normal(std=0.02)`)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Symbol:
    """A bare word in value position: `padding=same`, `monitor=val_loss`, `init=zeros`."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class CallValue:
    """`name(args, key=value)` in value position, before it is bound to a signature.
    `origin` is the compiler's syntax node, kept so the binder can point at arguments."""

    name: str
    args: tuple
    kwargs: tuple[tuple[str, Any], ...]
    origin: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Named:
    """A choice from a table with its bound arguments, e.g. Named("normal", {"std": 0.02, "mean": 0.0})."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={show(v)}' for k, v in self.params.items())})"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


class ArgError(Exception):
    """A value does not fit its kind. `expected` completes "expects <arg> to be ..."."""

    def __init__(self, expected: str, help: str | None = None):
        super().__init__(expected)
        self.expected = expected
        self.help = help


def show(value: Any) -> str:
    """A value as it would be written in a spec."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ")"
    if isinstance(value, CallValue):
        return f"{value.name}(...)"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


# ---- kinds ---------------------------------------------------------------------------------
class Kind(ABC):
    @abstractmethod
    def describe(self) -> str:
        """Completes the sentence "expects <arg> to be ..."."""

    @abstractmethod
    def check(self, value: Any) -> Any:
        """The normalized value; raises ArgError when the value does not fit."""


def _bounds(low, high, low_open, high_open) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


@dataclass(frozen=True)
class Int(Kind):
    min: int | None = None
    max: int | None = None

    def describe(self) -> str:
        bounds = _bounds(self.min, self.max, False, False)
        return f"an integer {bounds}".rstrip()

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ArgError(self.describe())
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ArgError(self.describe())
        return value


@dataclass(frozen=True)
class Float(Kind):
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def describe(self) -> str:
        return f"a number {_bounds(self.min, self.max, self.min_open, self.max_open)}".rstrip()

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ArgError(self.describe())
        try:
            value = float(value)  # an integer beyond float's range overflows here
        except OverflowError:
            raise ArgError(self.describe()) from None
        if not math.isfinite(value):
            raise ArgError(self.describe())
        if self.min is not None and (value < self.min or (self.min_open and value == self.min)):
            raise ArgError(self.describe())
        if self.max is not None and (value > self.max or (self.max_open and value == self.max)):
            raise ArgError(self.describe())
        return value


@dataclass(frozen=True)
class Bool(Kind):
    def describe(self) -> str:
        return "true or false"

    def check(self, value):
        if not isinstance(value, bool):
            raise ArgError(self.describe())
        return value


@dataclass(frozen=True)
class Str(Kind):
    def describe(self) -> str:
        return 'a string in double quotes ("...")'

    def check(self, value):
        if not isinstance(value, str):
            raise ArgError(self.describe())
        return value


class Cadence(Kind):
    """How often something recurs: "30s", "5m", "2 epochs", "500 steps" -> (unit, amount), the
    unit one of seconds, epochs, steps."""

    UNITS = {
        "s": "seconds",
        "m": "seconds",
        "epoch": "epochs",
        "epochs": "epochs",
        "step": "steps",
        "steps": "steps",
    }

    def describe(self) -> str:
        return 'a cadence: "30s", "5m", "2 epochs" or "500 steps"'

    def check(self, value):
        import re

        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", value) if isinstance(value, str) else None
        if found is None or found.group(2) not in self.UNITS:
            raise ArgError(self.describe())
        amount, unit = float(found.group(1)), self.UNITS[found.group(2)]
        amount *= 60 if found.group(2) == "m" else 1
        if amount <= 0 or (unit != "seconds" and amount != int(amount)):
            raise ArgError(
                self.describe(), help="a positive number of seconds, or a whole number of epochs or steps"
            )
        return (unit, amount if unit == "seconds" else int(amount))


@dataclass(frozen=True)
class Choice(Kind):
    """One word from a fixed set, written bare (`padding=same`) or quoted."""

    names: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(self.names)

    def check(self, value):
        name = value.name if isinstance(value, Symbol) else value
        if name is None and "none" in self.names:  # `none` is also the null literal
            return "none"
        if not isinstance(name, str) or name not in self.names:
            from difflib import get_close_matches

            close = get_close_matches(str(name), self.names, n=1) if isinstance(name, str) else []
            raise ArgError(self.describe(), help=f"did you mean `{close[0]}`?" if close else None)
        return name


@dataclass(frozen=True)
class Ints(Kind):
    """An integer, or a tuple of `rank` integers; always normalized to a tuple."""

    rank: int
    min: int = 1

    def describe(self) -> str:
        n = "integer" if self.min is None else f"integer >= {self.min}"
        return f"an {n}, or {self.rank} of them in parentheses" if self.rank > 1 else f"an {n}"

    def check(self, value):
        items = value if isinstance(value, tuple) else (value,) * self.rank
        if len(items) != self.rank:
            raise ArgError(self.describe())
        return tuple(Int(self.min).check(v) for v in items)


@dataclass(frozen=True)
class Padding(Kind):
    """`same`, `valid`, an integer, `rank` integers (symmetric) or 2*rank (begin..., end...).
    Normalized to a Symbol-free form: "same", or a tuple of 2*rank ints (begins then ends)."""

    rank: int

    def describe(self) -> str:
        return f"same, valid, an integer >= 0, or {self.rank} or {2 * self.rank} integers in parentheses"

    def check(self, value):
        name = value.name if isinstance(value, Symbol) else value
        if name == "same":
            return "same"
        if name == "valid":
            return (0,) * (2 * self.rank)
        items = value if isinstance(value, tuple) else (value,) * self.rank
        if len(items) not in (self.rank, 2 * self.rank):
            raise ArgError(self.describe())
        try:
            items = tuple(Int(0).check(v) for v in items)
        except ArgError:
            raise ArgError(self.describe()) from None
        return items * 2 if len(items) == self.rank else items


@dataclass(frozen=True)
class Shape(Kind):
    """A tuple of positive integers, with at most one -1 (inferred)."""

    def describe(self) -> str:
        return "a shape such as (4, 16), with at most one -1"

    def check(self, value):
        items = value if isinstance(value, tuple) else (value,)
        if not items or any(
            isinstance(v, bool) or not isinstance(v, int) or (v < 1 and v != -1) for v in items
        ):
            raise ArgError(self.describe())
        if items.count(-1) > 1:
            raise ArgError(self.describe(), help="only one dimension can be inferred")
        return items


@dataclass(frozen=True)
class FloatList(Kind):
    min: float = 0.0

    def describe(self) -> str:
        return f"a list of numbers >= {self.min:g}, such as [1.0, 2.5]"

    def check(self, value):
        if not isinstance(value, tuple) or not value:
            raise ArgError(self.describe())
        try:
            return tuple(Float(self.min).check(v) for v in value)
        except ArgError:
            raise ArgError(self.describe()) from None


@dataclass(frozen=True)
class FloatMap(Kind):
    """Numbers by name, such as class weights by class name: {cat: 2.0, dog: 1.0}."""

    min: float = 0.0

    def describe(self) -> str:
        return f"numbers >= {self.min:g} by name, such as {{cat: 2.0, dog: 1.0}}"

    def check(self, value):
        if not isinstance(value, Mapping) or not value:
            raise ArgError(self.describe())
        try:
            return {str(k): Float(self.min).check(v) for k, v in value.items()}
        except ArgError:
            raise ArgError(self.describe()) from None


@dataclass(frozen=True)
class Optional(Kind):
    kind: Kind

    def describe(self) -> str:
        return f"{self.kind.describe()}, or none"

    def check(self, value):
        return None if value is None else self.kind.check(value)


@dataclass(frozen=True)
class Either(Kind):
    """The first of several kinds that accepts the value."""

    kinds: tuple[Kind, ...]

    def describe(self) -> str:
        return ", or ".join(k.describe() for k in self.kinds)

    def check(self, value):
        for kind in self.kinds:
            try:
                return kind.check(value)
            except ArgError:
                continue
        raise ArgError(self.describe())


@dataclass(frozen=True)
class Table(Kind):
    """A choice from a table of signatures, bare (`he_normal`) or called (`normal(0.02)`).
    The compiler binds a CallValue's arguments against the chosen signature; `check` here
    handles the bare form."""

    what: str  # "initializer", "schedule", ...
    table: Mapping[str, Signature]

    def describe(self) -> str:
        return (
            f"an {self.what} ({', '.join(sorted(self.table))})"
            if self.what[0] in "aeiou"
            else f"a {self.what} ({', '.join(sorted(self.table))})"
        )

    def check(self, value):
        name = value.name if isinstance(value, Symbol | CallValue) else value
        if not isinstance(name, str) or name not in self.table:
            from difflib import get_close_matches

            close = get_close_matches(str(name), list(self.table), n=1) if isinstance(name, str) else []
            raise ArgError(self.describe(), help=f"did you mean `{close[0]}`?" if close else None)
        if isinstance(value, CallValue):
            return value  # bound by the compiler, with the call's spans
        signature = self.table[name]
        missing = [a.name for a in signature.args if a.default is REQUIRED]
        if missing:
            raise ArgError(
                self.describe(), help=f"`{name}` needs arguments: {name}({', '.join(missing)}=...)"
            )
        return Named(signature.name, {a.name: a.default for a in signature.args})


@dataclass(frozen=True)
class Arg:
    name: str
    kind: Kind
    default: Any = REQUIRED
    doc: str = ""


@dataclass(frozen=True)
class Signature:
    """What one named thing accepts. `name` is canonical: aliases map to the same Signature."""

    name: str
    args: tuple[Arg, ...] = ()
    doc: str = ""

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)
