"""Data for training and evaluation: load a spec's data source into arrays, refusing bad data
with messages located at the file, line and column of the first bad value; split off a
validation part; standardize inputs; fingerprint what a model was trained on.

A source is what a spec's `data { }` holds: a `.csv` or `.npz` path, or a mapping from names to
`.npy` paths, all relative to the spec's folder. The caller asks for `Field`s: the model inputs
and the loss targets that are not also inputs.

- CSV (header row required): a field whose name is a column takes that column (one value per
  sample); the other columns, in file order, are the features of the one field that is not a
  column, reshaped row-major to its per-sample shape. Class targets (int64 with `classes`) are
  integer class indices, or, when some cell is not a number, names: sorted, they become the
  indices 0..k-1, recorded in `Dataset.labels` (files read later pass that mapping back).
- `.npz` / `.npy`: one array per field, samples on the first axis.

Codes (E401 and E402 are the ones `nnc check` reports when it reads a header at compile time):
  E401  a column or array a field needs is not in the file (or the `.npy` mapping)
  E402  a CSV's feature columns do not fit the input they feed, or columns are left unused
  E403  the data file does not exist, or is not a file
  E404  the file cannot be read as its kind: not UTF-8, malformed CSV, not a valid .npy/.npz
  E405  no samples: an empty file, a header without rows, zero-length arrays, too few to split
  E406  a missing value: an empty cell, or a row shorter than the header
  E407  a value that is not a number
  E408  a value that is not finite: nan, inf, or beyond float32's range
  E409  an integer outside [0, classes) (a class target's classes, or the vocab of the embedding a
        token input feeds), or more distinct string labels than classes
  E410  a string label that the training data's labels do not have
  E411  an array whose per-sample shape differs from the field's
  E412  a type that does not convert: object (pickled) or string arrays, complex numbers,
        a non-integer where int64 is needed
  E413  arrays with different numbers of samples
  E414  a CSV layout that cannot hold the data: duplicate or empty column names, a row longer
        than the header, a column named after a multi-value field, several multi-value inputs
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nnc.runtime.data.csv_file import read_csv
from nnc.runtime.data.dataset import DataError, Dataset, Field, first_true, shown_path

# Field, DataError and Dataset live in dataset.py, shared with csv_file.py; they are part of
# this module's API.
__all__ = ["DataError", "Dataset", "Field", "Standardizer", "fingerprint", "from_arrays", "load", "split"]

_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"


def load(
    source: str | Mapping[str, str],
    root: Path,
    fields: list[Field],
    *,
    labels: dict[str, list[str]] | None = None,
) -> Dataset:
    """Read `fields` from a source (a path or a {name: .npy path} mapping, relative to `root`).
    `labels` are the training data's class names, for files read after it."""
    root = Path(root)
    if isinstance(source, Mapping):
        shown = ", ".join(shown_path(root / p) for p in source.values())
        arrays = {}
        for f in fields:
            if f.name not in source:
                raise DataError(
                    "E401",
                    f"the data mapping has no file for `{f.name}` ({f.type})",
                    path=shown,
                    help=f'add `{f.name}: "FILE.npy"` to the mapping',
                )
            path = _existing(root, source[f.name])
            arrays[f.name] = _checked(_read_npy(path), f, shown_path(path))
        return Dataset(arrays, _same_count(arrays, shown), {}, shown)
    path = _existing(root, source)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, fields, labels or {})
    if suffix == ".npz":
        return _load_npz(path, fields)
    raise DataError(
        "E404", f"unsupported data file `{source}`", path=shown_path(path), help="use a .csv or .npz file"
    )


def from_arrays(arrays: Mapping[str, np.ndarray], fields: list[Field]) -> Dataset:
    """Arrays given in memory (the Python API), checked exactly as arrays read from an .npz."""
    out = {}
    for f in fields:
        if f.name not in arrays:
            raise DataError(
                "E401",
                f"the data have no array `{f.name}` ({f.type})",
                path="<arrays>",
                help=f"pass a mapping with the keys {', '.join(x.name for x in fields)}",
            )
        out[f.name] = _checked(np.asarray(arrays[f.name]), f, "<arrays>")
    return Dataset(out, _same_count(out, "<arrays>"), {}, "<arrays>")


# --- files ------------------------------------------------------------------------------


def _existing(root: Path, name: str) -> Path:
    path = root / name
    if not path.exists():
        raise DataError(
            "E403",
            f"data file `{name}` does not exist",
            path=shown_path(path),
            help=f"paths are relative to {root}",
        )
    if not path.is_file():
        raise DataError("E403", f"data file `{name}` is not a file", path=shown_path(path))
    return path


def _magic(path: Path, expected: bytes, kind: str) -> None:
    try:
        with path.open("rb") as f:
            head = f.read(len(expected))
    except OSError as e:
        raise DataError("E404", f"cannot read `{path.name}`: {e.strerror}", path=shown_path(path)) from None
    if not head:
        raise DataError("E405", f"`{path.name}` is empty: expected {kind}", path=shown_path(path))
    if head != expected:
        raise DataError("E404", f"`{path.name}` is not {kind}", path=shown_path(path))


def _loaded(path: Path, read, what: str = ""):
    """`read()`, with numpy's many failures on a corrupt file (ValueError, OSError, EOFError,
    BadZipFile, zlib.error, ...) turned into a DataError."""
    try:
        return read()
    except Exception as e:  # numpy raises many kinds: see the docstring
        if "allow_pickle" in str(e):
            raise DataError(
                "E412",
                f"`{path.name}`{what} holds Python objects (a pickled array); expected numbers",
                path=shown_path(path),
                help="save a numeric array: np.save(path, np.asarray(x, dtype=np.float32))",
            ) from None
        raise DataError("E404", f"`{path.name}` is corrupt: {e}", path=shown_path(path)) from None


def _read_npy(path: Path) -> np.ndarray:
    _magic(path, _NPY_MAGIC, "a NumPy .npy file")
    return _loaded(path, lambda: np.load(path, allow_pickle=False))


def _load_npz(path: Path, fields: list[Field]) -> Dataset:
    _magic(path, _ZIP_MAGIC, "a NumPy .npz archive")
    shown = shown_path(path)
    with _loaded(path, lambda: np.load(path, allow_pickle=False)) as archive:
        arrays = {}
        for f in fields:
            if f.name not in archive.files:
                raise DataError(
                    "E401",
                    f"`{path.name}` has no array `{f.name}` ({f.type})",
                    path=shown,
                    help=f"its arrays: {', '.join(archive.files) or 'none'}",
                )
            array = _loaded(path, lambda f=f: archive[f.name], f" array `{f.name}`")
            arrays[f.name] = _checked(array, f, shown)
    return Dataset(arrays, _same_count(arrays, shown), {}, shown)


# --- arrays -----------------------------------------------------------------------------


def _checked(a: np.ndarray, f: Field, shown: str) -> np.ndarray:
    """`a` as field `f`: per-sample shape, dtype, finite values, class range."""
    if a.ndim == 0 or not f.fits(a.shape[1:]):
        fits = a.ndim > 0 and not f.any_length and math.prod(a.shape[1:]) == f.size
        raise DataError(
            "E411",
            f"array `{f.name}` must have per-sample shape {list(f.shape)} ({f.type}). "
            f"Received: shape {list(a.shape)}, per-sample {list(a.shape[1:])}",
            path=shown,
            help=f"reshape it to {[a.shape[0], *f.shape]}"
            if fits
            else "the first axis counts samples; the others must match the model",
        )
    if a.shape[0] == 0:
        raise DataError("E405", f"array `{f.name}` has no samples", path=shown)
    if a.dtype.kind not in "biuf":
        raise DataError(
            "E412",
            f"array `{f.name}` must hold {f.dtype} numbers. Received: dtype {a.dtype}",
            path=shown,
            help="save it as a numeric array (float32, or int64 for classes and tokens)",
        )
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            i = first_true(bad)
            raise DataError(
                "E408",
                f"array `{f.name}` holds {a[i]} at index {list(i)} (sample {i[0]}); expected finite numbers",
                path=shown,
            )
    if f.dtype == "float32":
        with np.errstate(over="ignore"):  # overflow is reported below, located
            out = a.astype(np.float32)
        bad = ~np.isfinite(out)
        if bad.any():
            i = first_true(bad)
            raise DataError(
                "E408",
                f"array `{f.name}` holds {a[i]} at index {list(i)} (sample {i[0]}), beyond float32's range",
                path=shown,
            )
        return np.ascontiguousarray(out)
    if a.dtype.kind == "f" and (bad := a != np.round(a)).any():
        i = first_true(bad)
        raise DataError(
            "E412",
            f"array `{f.name}` must hold integers ({f.type}). Received: {a[i]} at index {list(i)}",
            path=shown,
        )
    if a.dtype == np.uint64 and (bad := a > np.iinfo(np.int64).max).any():
        i = first_true(bad)
        raise DataError("E412", f"array `{f.name}` holds {a[i]} at index {list(i)}, beyond int64", path=shown)
    out = np.ascontiguousarray(a.astype(np.int64))
    if f.classes is not None and (bad := (out < 0) | (out >= f.classes)).any():
        i = first_true(bad)
        raise DataError(
            "E409",
            f"array `{f.name}` holds {out[i]} at index {list(i)} (sample {i[0]}); "
            f"expected a value in [0, {f.classes})",
            path=shown,
            help=f.range_help,
        )
    return out


def _same_count(arrays: dict[str, np.ndarray], shown: str) -> int:
    counts = {name: len(a) for name, a in arrays.items()}
    if len(set(counts.values())) > 1:
        raise DataError(
            "E413",
            "arrays hold different numbers of samples: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
            path=shown,
            help="the first axis of every array counts the same samples",
        )
    if not counts:
        raise ValueError("load() needs at least one field")
    return next(iter(counts.values()))


# --- splitting, standardizing, fingerprints ---------------------------------------------


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


_STD_FLOOR = 1e-8


@dataclass(frozen=True)
class Standardizer:
    """Per-feature x' = (x - mean) / std, the statistics taken over the samples (axis 0) of
    the training data, one value per element of the per-sample shape. A feature whose std is
    below 1e-8 (a constant pixel) gets std 1, so it is only centered."""

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    @staticmethod
    def fit(dataset: Dataset, names) -> Standardizer:
        mean, std = {}, {}
        for name in names:
            x = dataset.arrays[name]
            mean[name] = x.mean(axis=0, dtype=np.float64).astype(np.float32)
            s = x.std(axis=0, dtype=np.float64)
            std[name] = np.where(s < _STD_FLOOR, 1.0, s).astype(np.float32)
        return Standardizer(mean, std)

    def apply(self, dataset: Dataset) -> Dataset:
        return Dataset(self.apply_arrays(dataset.arrays), dataset.n, dataset.labels, dataset.source)

    def apply_arrays(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(arrays)
        for name, mean in self.mean.items():
            out[name] = ((out[name] - mean) / self.std[name]).astype(np.float32, copy=False)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """For an .npz: `standardize.NAME.mean` and `standardize.NAME.std`."""
        out = {}
        for name in self.mean:
            out[f"standardize.{name}.mean"] = self.mean[name]
            out[f"standardize.{name}.std"] = self.std[name]
        return out

    @staticmethod
    def from_arrays(arrays: Mapping[str, np.ndarray]) -> Standardizer:
        """The inverse of `to_arrays`; other keys are ignored."""
        mean, std = {}, {}
        for key in arrays:
            prefix, _, rest = key.partition(".")
            name, _, stat = rest.rpartition(".")
            if prefix == "standardize" and stat in ("mean", "std"):
                (mean if stat == "mean" else std)[name] = np.asarray(arrays[key], dtype=np.float32)
        return Standardizer(mean, std)


def fingerprint(dataset: Dataset) -> str:
    """sha256 of the arrays' names, dtypes, shapes and bytes in name order, then the label
    names: equal data gives equal fingerprints on any machine."""
    h = hashlib.sha256()
    for name in sorted(dataset.arrays):
        a = np.ascontiguousarray(dataset.arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.data)
    for name in sorted(dataset.labels):
        h.update(f"{name}\0{chr(10).join(dataset.labels[name])}\0".encode())
    return h.hexdigest()
