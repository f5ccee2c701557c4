"""The data types every reader shares: `Field` (what the model asks for, `fields_of` a
program), `Dataset` (what a reader gives back) and `DataError` (a located refusal), with the
two helpers that locate one: the path as a message shows it, and the first bad index of an
array. `nnc.runtime.data` re-exports these; its docstring lists the error codes."""

from __future__ import annotations

import difflib
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from nnc.runtime.dtypes import DTYPES
from nnc.runtime.errors import RunError


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
    # The CSV columns that hold this field, by name, in order: the training data's, so that a
    # later file is read by name, whatever its column order (None: the field's own column, or
    # the columns no other field takes, in file order)
    columns: tuple[str, ...] | None = None
    # Whether values may be missing (NaN; an empty or `NA` cell): a float32 input read by
    # `impute` only. Everywhere else a missing value is refused.
    missing: bool = False

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
        if self.dtype not in DTYPES:
            raise ValueError(f"Field dtype must be one of {', '.join(DTYPES)}. Received: {self.dtype!r}")

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


def fields_of(graph, losses) -> list[Field]:
    """The arrays a data set must provide for a program (its graph and loss terms, read, never
    imported): every input, and each loss target that is not an input (an autoencoder's target
    is its input). Token ids must index every embedding they feed."""
    from nnc.runtime.ops import OPS  # only here: predict reads data without the op registry

    out = []
    for i in graph.inputs:
        vocab = graph.vocabulary(i.name)
        readers = [n.op for n in graph.nodes if i.name in n.inputs]
        missing = i.type.dtype == "float32" and bool(readers) and set(readers) == {"impute"}
        shape = tuple(i.type.shape[1:])
        out.append(Field(i.name, i.type.dtype, shape, vocab, tokens=vocab is not None, missing=missing))
    seen = {f.name for f in out}
    for term in losses:
        if term.target in seen:
            continue
        seen.add(term.target)
        classes = graph.type_of(term.prediction).shape[-1] if OPS[term.op].trains == "multiclass" else None
        t = term.target_type
        out.append(Field(term.target, t.dtype, tuple(t.shape[1:]), classes))
    return out


class DataError(RunError):
    """A refusal of a data file. `line` is 1-based (a CSV's header is line 1); `column` is the
    1-based character column where the bad cell starts, None when the whole line is meant."""


@dataclass(frozen=True)
class Dataset:
    arrays: dict[str, np.ndarray]  # name -> (n, *shape), dtype as its Field says
    n: int
    labels: dict[str, list[str]] = field(default_factory=dict)  # class names, index i is class i
    source: str = ""
    # the columns of a table (CSV, Parquet) each field was read from
    columns: dict[str, list[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # CSV columns no field reads
    ids: list[str] | None = None  # what names each sample, where the source has it: a file

    def take(self, index: np.ndarray) -> Dataset:
        """The samples at `index`, in that order."""
        arrays = {k: a[index] for k, a in self.arrays.items()}
        ids = None if self.ids is None else [self.ids[i] for i in index]
        return Dataset(arrays, len(index), self.labels, self.source, self.columns, self.ignored, ids)

    def renamed(self, names: dict[str, str]) -> Dataset:
        """The same data with arrays and labels under other names (old name -> new)."""
        return Dataset(
            {names.get(k, k): v for k, v in self.arrays.items()},
            self.n,
            {names.get(k, k): v for k, v in self.labels.items()},
            self.source,
            {names.get(k, k): v for k, v in self.columns.items()},
            self.ignored,
            self.ids,
        )

    def fingerprint(self) -> str:
        """sha256 of the arrays' names, dtypes, shapes and bytes in name order, then the label
        names: equal data gives equal fingerprints on any machine."""
        h = hashlib.sha256()
        for name in sorted(self.arrays):
            a = np.ascontiguousarray(self.arrays[name])
            h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
            h.update(a.data)
        for name in sorted(self.labels):
            h.update(f"{name}\0{chr(10).join(self.labels[name])}\0".encode())
        return h.hexdigest()


def split(
    dataset: Dataset, fraction: float, rng: np.random.Generator, *, stratify: str | None = None
) -> tuple[Dataset, Dataset]:
    """(train, validation). Validation gets floor(fraction * n + 0.5) samples (half rounds up),
    at least 1 and at most n - 1. Stratified by an int64 array: class c gets its share of
    that count, floor(count * n_c / n), and the samples left over go to the classes with the
    largest remainders (ties: lower class first). Both parts keep the file's order."""
    n = dataset.n
    if n < 2:
        raise DataError(
            "E405",
            f"cannot hold out validation data from {n} sample",
            path=dataset.source,
            help="give more samples, or a validation file",
        )
    count = min(max(math.floor(fraction * n + 0.5), 1), n - 1)
    if stratify is None:
        chosen = rng.permutation(n)[:count]
    else:
        y = dataset.arrays[stratify].reshape(n)
        classes, members = np.unique(y, return_inverse=True)
        sizes = np.bincount(members, minlength=len(classes))
        quota = count * sizes / n
        share = np.floor(quota).astype(np.int64)
        extra = np.argsort(-(quota - share), kind="stable")[: count - int(share.sum())]
        share[extra] += 1
        chosen = np.concatenate(
            [rng.permutation(np.flatnonzero(members == c))[: share[c]] for c in range(len(classes))]
        )
    held = np.zeros(n, dtype=bool)
    held[chosen] = True
    return dataset.take(np.flatnonzero(~held)), dataset.take(np.flatnonzero(held))


def shown_path(path: Path) -> str:
    """The path relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def utf8_text(data: bytes, path: Path, shown: str) -> str:
    """A file's bytes as text (a leading byte-order mark dropped), or E404 at the line and
    column of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise not_utf8(path, shown, e, line, column) from None


def not_utf8(path: Path, shown: str, e: UnicodeDecodeError, line: int, column: int) -> DataError:
    return DataError(
        "E404", f"`{path.name}` is not UTF-8 text: {e.reason}", path=shown, line=line, column=column
    )


def suggest(name: str, names: list[str], what: str) -> str:
    """Help for a missing name: the closest one the source has, or the first of them."""
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    if not names:
        return f"it has no {what}"
    return f"its {what}: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}"


def first_true(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True, in sample order."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))
