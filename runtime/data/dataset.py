"""The data types every loader shares: `Field` (what the model asks for), `Dataset` (what a
loader gives back) and `DataError` (a located refusal), with the two helpers that locate one:
the path as a message shows it, and the first bad index of an array. `nnc.runtime.data` loads
sources and re-exports these; its docstring lists the error codes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from nnc.runtime.errors import RunError

_DTYPES = ("float32", "int64")


@dataclass(frozen=True)
class Field:
    """One array the model needs: a model input or a loss target. `shape` is per sample (no
    batch axis); `classes` bounds an int64 field's values to [0, classes): the classes of a
    class target, or the vocabulary of the embedding a token input feeds (`tokens` set)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]  # None: any length (an exported sequence model's time axis)
    classes: int | None = None
    tokens: bool = False

    @property
    def what(self) -> str:
        """What one value is, for messages: `class index 7` or `token id 7`."""
        return "token id" if self.tokens else "class index"

    @property
    def range_help(self) -> str:
        if self.tokens:
            return f"the embedding's vocab is {self.classes}: token ids run from 0 to {self.classes - 1}"
        return f"the model has {self.classes} classes, numbered from 0"

    def __post_init__(self):
        if self.dtype not in _DTYPES:
            raise ValueError(f"Field dtype must be one of {_DTYPES}. Received: {self.dtype!r}")

    @property
    def size(self) -> int:
        """Values per sample; for a field of any length, per step of that length."""
        return math.prod(d for d in self.shape if d is not None)

    @property
    def any_length(self) -> bool:
        return None in self.shape

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether `shape` (per sample) is this field's, a free length taking any size >= 1."""
        return len(shape) == len(self.shape) and all(
            d == want or (want is None and d >= 1) for d, want in zip(shape, self.shape, strict=True)
        )

    def fits_columns(self, count: int) -> bool:
        """Whether `count` CSV columns hold one sample of this field."""
        return count == self.size or (self.any_length and count > 0 and count % self.size == 0)

    @property
    def type(self) -> str:
        """As the compiler prints types: float32[N, 64], with N the samples (and T any length)."""
        return f"{self.dtype}[{', '.join(['N', *('T' if d is None else str(d) for d in self.shape)])}]"


class DataError(RunError):
    """A refusal of a data file. `line` is 1-based (a CSV's header is line 1); `column` is the
    1-based character column where the bad cell starts, None when the whole line is meant."""


@dataclass(frozen=True)
class Dataset:
    arrays: dict[str, np.ndarray]  # name -> (n, *shape), dtype as its Field says
    n: int
    labels: dict[str, list[str]] = field(default_factory=dict)  # class names, index i is class i
    source: str = ""

    def take(self, index: np.ndarray) -> Dataset:
        """The samples at `index`, in that order."""
        return Dataset({k: a[index] for k, a in self.arrays.items()}, len(index), self.labels, self.source)


def shown_path(path: Path) -> str:
    """The path relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def first_true(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True, in sample order."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))
