"""Data for training, evaluation and prediction: one reader per format behind one interface
(runtime/data/reader.py), listed once in FORMATS. A source is what a spec's `data { }` or
`--data` names, relative to a root folder: a `.csv`, `.npz` or `.npy` path, or a mapping from
names to `.npy` paths; from Python, also a mapping of arrays. The caller asks for `Field`s
(`fields_of` a program): the model inputs and the loss targets that are not also inputs. Bad
data are refused with a `DataError` located at the file, line and column of the first bad value.

- CSV (header row required): a field whose name is a column takes that column (one value per
  sample); the other columns, in file order, are the features of the one field that is not a
  column, reshaped row-major to its per-sample shape. Class targets (int64 with `classes`) are
  integer class indices, or, when some cell is not a number, names: sorted, they become the
  indices 0..k-1, recorded in `Dataset.labels` (files read later pass that mapping back).
- `.npz`, a mapping of `.npy` files, arrays: one array per field, samples on the first axis;
  a bare `.npy` file for a model that needs one array.

`check` is what `nnc check` runs on a spec's existing data files: the reader's own check of
what the names alone show, the same code `read` runs first. Codes:
  E401  a column or array a field needs is not in the file (or the `.npy` mapping)
  E402  a CSV's feature columns do not fit the input they feed, or columns are left unused
  E403  the data file does not exist, or is not a file
  E404  the file cannot be read as its kind: an unsupported format, not UTF-8, malformed CSV, not
        a valid .npy/.npz
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
  E414  a layout that cannot hold the data: duplicate or empty column names, a row longer than
        the header, a column named after a multi-value field, several multi-value inputs in one
        CSV, one .npy file for several arrays
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
from nnc.runtime.data import cells
from nnc.runtime.data.arrays import Arrays
from nnc.runtime.data.class_folders import ClassFolders
from nnc.runtime.data.csv_file import CsvFile
from nnc.runtime.data.dataset import DataError, Dataset, Field, fields_of, shown_path, split
from nnc.runtime.data.npy_files import NpyFile, NpyFiles, NpzFile
from nnc.runtime.data.parquet_file import ParquetFile
from nnc.runtime.data.reader import Reader

__all__ = [
    "FORMATS",
    "IgnoredColumns",
    "UnseenCategories",
    "DataError",
    "Dataset",
    "Field",
    "batches",
    "check",
    "class_names",
    "fields_of",
    "names",
    "read",
    "split",
    "warn_ignored",
    "unseen",
    "add_unseen",
    "warn_unseen",
]

# The formats a path may name, by suffix: the one list of them.
FORMATS: dict[str, Reader] = {
    ".csv": CsvFile(),
    ".parquet": ParquetFile(),
    ".npz": NpzFile(),
    ".npy": NpyFile(),
}
# A folder: one subfolder of images or texts per class
FOLDER = ClassFolders()
_MAPPING_HELP = 'or a mapping of names to .npy files, {image: "x.npy", label: "y.npy"}'


def read(
    source,
    root: Path,
    fields: list[Field],
    *,
    labels: dict[str, list[str]] | None = None,
    columns: Mapping[str, str] | None = None,
) -> Dataset:
    """`fields` from `source` (paths relative to `root`). `labels` are the training data's class
    names, for files read after it. `columns` reads a field from a column or array of another
    name ({field: column}); the data come back under the field names."""
    reader, located = _resolve(source, root)
    back = {column: name for name, column in (columns or {}).items()}
    asked = [Field(**{**vars(f), "name": (columns or {}).get(f.name, f.name)}) for f in fields]
    given = {(columns or {}).get(k, k): v for k, v in (labels or {}).items()}
    return reader.read(located, asked, given).renamed(back)


class IgnoredColumns(UserWarning):
    """A data file has columns the model does not read (an id, a target, for prediction)."""


def warn_ignored(dataset: Dataset) -> None:
    """Says once which columns of a file were read past."""
    if dataset.ignored:
        shown = ", ".join(f"`{c}`" for c in dataset.ignored[:12]) + (
            ", ..." if len(dataset.ignored) > 12 else ""
        )
        warnings.warn(
            f"{dataset.source}: read past the columns the model does not use: {shown}",
            IgnoredColumns,
            stacklevel=3,
        )


class UnseenCategories(UserWarning):
    """Data hold categories the training data did not have (read as out of vocabulary)."""


def unseen(arrays: Mapping, categories: Mapping[str, set]) -> dict[str, tuple[int, int, str | None]]:
    """{input: (values not among its categories, values, the first such value or None)} for
    each input of `categories` (the vocabularies of the lookups reading inputs). A missing-value
    marker is known when the training data had missing values (the lookup's empty string)."""
    out = {}
    for name, known in categories.items():
        values = np.asarray(arrays[name]).reshape(-1)
        known = set(known) | (cells.MISSING if "" in known else set())
        new = ~np.isin(values, list(known))
        first = str(values[int(np.argmax(new))]) if new.any() else None
        out[name] = (int(new.sum()), len(values), first)
    return out


def add_unseen(total: dict, part: Mapping[str, tuple[int, int, str | None]]) -> None:
    """Adds one batch's `unseen` counts to `total`'s, keeping the first example."""
    for name, (count, values, first) in part.items():
        before = total.get(name, (0, 0, None))
        total[name] = (before[0] + count, before[1] + values, before[2] or first)


def warn_unseen(counts: Mapping[str, tuple[int, int, str]], source: str) -> None:
    """Says once, in one line, how many values of each input were new: they are read as out
    of vocabulary, which is what a model does with a category it never saw, not an error."""
    parts = [
        f"`{name}` {n} of {total} (such as {first!r})" for name, (n, total, first) in counts.items() if n
    ]
    if parts:
        warnings.warn(
            f"{source}: values the training data did not have, read as out of vocabulary: {'; '.join(parts)}",
            UnseenCategories,
            stacklevel=3,
        )


def batches(source, root: Path, fields: list[Field], *, labels=None, batch_size: int) -> Iterator[Dataset]:
    """The data of `read`, in slices of `batch_size` samples."""
    reader, located = _resolve(source, root)
    yield from reader.batches(located, fields, labels or {}, batch_size)


def check(source, root: Path, fields: list[Field]) -> None:
    """Raises DataError for what an existing source shows without reading its values: an
    unsupported format, a missing column or array, a layout that cannot hold the fields."""
    reader, located = _resolve(source, root)
    reader.check(located, fields)


def names(source, root: Path) -> list[str]:
    """What `source` holds, read cheaply: CSV columns, archive arrays, mapping keys."""
    reader, located = _resolve(source, root)
    return reader.names(located)


CLASS_NAMES_LIMIT = 64 * 2**20  # bytes: `nnc check` reads no larger file whole


def class_names(source, root: Path, fields: list[Field]) -> dict[str, list[str] | None]:
    """The class names a CSV's class targets hold, numbered as training will number them (None
    for a target of class indices); empty for other sources, for a file that does not exist or
    cannot be read (reading it will say why), and for a file over 64 MiB (check stays quick)."""
    try:
        reader, located = _resolve(source, root)
        if isinstance(reader, ClassFolders):
            return reader.class_names(located, fields)
        if not isinstance(reader, CsvFile) or located.stat().st_size > CLASS_NAMES_LIMIT:
            return {}
        return reader.class_names(located, fields)
    except (DataError, OSError):
        return {}


def _resolve(source, root: Path) -> tuple[Reader, object]:
    """The reader of `source`, and the source with its paths made existing files."""
    if isinstance(source, Mapping) and not all(isinstance(v, str | Path) for v in source.values()):
        return Arrays(), source
    if isinstance(source, Mapping):
        for name, p in source.items():
            if Path(str(p)).suffix.lower() != ".npy":
                raise DataError(
                    "E404",
                    f"`{p}` for `{name}` in a data mapping is not a .npy file",
                    path=shown_path(Path(root) / str(p)),
                    help='a mapping names one .npy file per array: {image: "x.npy", label: "y.npy"}',
                )
        return NpyFiles(), {name: _existing(root, str(p)) for name, p in source.items()}
    suffix = Path(str(source)).suffix.lower()
    if suffix not in FORMATS and (Path(root) / str(source)).is_dir():
        return FOLDER, Path(root) / str(source)
    if suffix not in FORMATS:
        raise DataError(
            "E404",
            f"unsupported data file `{source}`",
            path=shown_path(Path(root) / str(source)),
            help=f"use a {', '.join(FORMATS)} file, {_MAPPING_HELP}",
        )
    return FORMATS[suffix], _existing(root, str(source))


def _existing(root: Path, name: str) -> Path:
    path = Path(root) / name
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
