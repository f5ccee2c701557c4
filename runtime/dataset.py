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
    batch axis); `classes` bounds an int64 field's values to [0, classes)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    classes: int | None = None

    def __post_init__(self):
        if self.dtype not in _DTYPES:
            raise ValueError(f"Field dtype must be one of {_DTYPES}. Received: {self.dtype!r}")

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def type(self) -> str:
        """As the compiler prints types: float32[N, 64], with N the samples."""
        return f"{self.dtype}[{', '.join(['N', *map(str, self.shape)])}]"


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
