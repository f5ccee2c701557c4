"""The one interface every data format implements. A source is what a spec's `data { }` or
`--data` names (a path, or a mapping of names to `.npy` paths) or, from Python, a mapping of
arrays; the caller asks for `Field`s (runtime/data/dataset.py).

- `names(source)`: what the source holds (CSV columns, archive arrays, mapping keys), read
  cheaply: a CSV's header, an archive's listing.
- `check(source, fields)`: refuses what the names alone show (a missing column, a layout that
  cannot hold the fields). `nnc check` calls it at compile time and `read` calls it first, so
  the two cannot disagree.
- `read(source, fields, labels)`: every value, checked, as a `Dataset`.
- `batches(...)`: the same data in slices of `batch_size` samples, for inference. CSV and
  Parquet files are read a batch at a time; the other formats are read whole first."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np
from nnc.runtime.data.dataset import Dataset, Field


class Reader(ABC):
    kind: str  # "a CSV file", for messages

    @abstractmethod
    def names(self, source) -> list[str]:
        """Column or array names; raises DataError when the source cannot be read as its kind."""

    @abstractmethod
    def check(self, source, fields: list[Field]) -> None:
        """Raises DataError (E401 a missing name, E402/E414 a layout) for what the names show."""

    @abstractmethod
    def read(self, source, fields: list[Field], labels: dict[str, list[str]]) -> Dataset:
        """`fields`, checked; `labels` are the training data's class names for files read after
        it (empty for the training data itself, whose names come back in Dataset.labels)."""

    def batches(
        self, source, fields: list[Field], labels: dict[str, list[str]], batch_size: int
    ) -> Iterator[Dataset]:
        dataset = self.read(source, fields, labels)
        for start in range(0, dataset.n, batch_size):
            yield dataset.take(np.arange(start, min(start + batch_size, dataset.n)))


def numbers_classes(plan, labels: dict[str, list[str]]) -> bool:
    """Whether a read must number class names itself: a class target the training data's
    labels do not cover, numbered by sorting its whole column, so not a batch at a time."""
    return any(f.classes is not None and f.name not in labels for f, _ in plan)
