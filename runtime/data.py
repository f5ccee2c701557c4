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
  E409  an integer outside [0, classes), or more distinct string labels than classes
  E410  a string label that the training data's labels do not have
  E411  an array whose per-sample shape differs from the field's
  E412  a type that does not convert: object (pickled) or string arrays, complex numbers,
        a non-integer where int64 is needed
  E413  arrays with different numbers of samples
  E414  a CSV layout that cannot hold the data: duplicate or empty column names, a row longer
        than the header, a column named after a multi-value field, several multi-value inputs
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from nnc.runtime.errors import RunError

_DTYPES = ("float32", "int64")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"


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
        shown = ", ".join(_shown(root / p) for p in source.values())
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
            arrays[f.name] = _checked(_read_npy(path), f, _shown(path))
        return Dataset(arrays, _same_count(arrays, shown), {}, shown)
    path = _existing(root, source)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _load_csv(path, fields, labels or {})
    if suffix == ".npz":
        return _load_npz(path, fields)
    raise DataError(
        "E404", f"unsupported data file `{source}`", path=_shown(path), help="use a .csv or .npz file"
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


def _shown(path: Path) -> str:
    """The path relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _existing(root: Path, name: str) -> Path:
    path = root / name
    if not path.exists():
        raise DataError(
            "E403",
            f"data file `{name}` does not exist",
            path=_shown(path),
            help=f"paths are relative to {root}",
        )
    if not path.is_file():
        raise DataError("E403", f"data file `{name}` is not a file", path=_shown(path))
    return path


def _magic(path: Path, expected: bytes, kind: str) -> None:
    try:
        with path.open("rb") as f:
            head = f.read(len(expected))
    except OSError as e:
        raise DataError("E404", f"cannot read `{path.name}`: {e.strerror}", path=_shown(path)) from None
    if not head:
        raise DataError("E405", f"`{path.name}` is empty: expected {kind}", path=_shown(path))
    if head != expected:
        raise DataError("E404", f"`{path.name}` is not {kind}", path=_shown(path))


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
                path=_shown(path),
                help="save a numeric array: np.save(path, np.asarray(x, dtype=np.float32))",
            ) from None
        raise DataError("E404", f"`{path.name}` is corrupt: {e}", path=_shown(path)) from None


def _read_npy(path: Path) -> np.ndarray:
    _magic(path, _NPY_MAGIC, "a NumPy .npy file")
    return _loaded(path, lambda: np.load(path, allow_pickle=False))


def _load_npz(path: Path, fields: list[Field]) -> Dataset:
    _magic(path, _ZIP_MAGIC, "a NumPy .npz archive")
    shown = _shown(path)
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


def _at(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True, in sample order."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _checked(a: np.ndarray, f: Field, shown: str) -> np.ndarray:
    """`a` as field `f`: per-sample shape, dtype, finite values, class range."""
    if a.ndim == 0 or a.shape[1:] != f.shape:
        fits = a.ndim > 0 and math.prod(a.shape[1:]) == f.size
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
            i = _at(bad)
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
            i = _at(bad)
            raise DataError(
                "E408",
                f"array `{f.name}` holds {a[i]} at index {list(i)} (sample {i[0]}), beyond float32's range",
                path=shown,
            )
        return np.ascontiguousarray(out)
    if a.dtype.kind == "f" and (bad := a != np.round(a)).any():
        i = _at(bad)
        raise DataError(
            "E412",
            f"array `{f.name}` must hold integers ({f.type}). Received: {a[i]} at index {list(i)}",
            path=shown,
        )
    if a.dtype == np.uint64 and (bad := a > np.iinfo(np.int64).max).any():
        i = _at(bad)
        raise DataError("E412", f"array `{f.name}` holds {a[i]} at index {list(i)}, beyond int64", path=shown)
    out = np.ascontiguousarray(a.astype(np.int64))
    if f.classes is not None and (bad := (out < 0) | (out >= f.classes)).any():
        i = _at(bad)
        raise DataError(
            "E409",
            f"array `{f.name}` holds {out[i]} at index {list(i)} (sample {i[0]}); "
            f"expected a value in [0, {f.classes})",
            path=shown,
            help=f"the model has {f.classes} classes, numbered from 0",
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


# --- CSV --------------------------------------------------------------------------------


@dataclass
class _Table:
    """A parsed CSV: the header, data rows (blank lines dropped), and where each row starts."""

    shown: str
    lines: list[str]
    header: list[str]
    rows: list[list[str]]
    starts: list[int]  # 1-based line of each data row
    header_line: int

    def where(self, r: int, j: int) -> tuple[int, int]:
        """(line, column) of cell j of data row r (r = -1: the header)."""
        line = self.starts[r] if r >= 0 else self.header_line
        text = self.lines[line - 1].rstrip("\r\n")
        offsets = _cell_offsets(text)
        if j >= len(offsets):  # a short row: point past its end
            return line, len(text) + 1
        start, end = offsets[j], (offsets[j + 1] - 1 if j + 1 < len(offsets) else len(text))
        cell = text[start:end]
        if cell.strip():  # point at the value, not at the spaces before it
            start += len(cell) - len(cell.lstrip(" \t"))
        return line, start + 1

    def error(self, code: str, r: int, j: int, message: str, help: str | None = None) -> DataError:
        line, column = self.where(r, j)
        name = self.header[j] if j < len(self.header) else f"#{j + 1}"
        at = f"row {r + 1}, column `{name}`" if r >= 0 else f"header, column {j + 1}"
        return DataError(code, f"{at}: {message}", path=self.shown, line=line, column=column, help=help)


def _cell_offsets(text: str) -> list[int]:
    """Where each cell of a CSV line starts, as the csv module splits it: a quote opens a
    quoted cell only as its first character, and `""` inside one is a quote."""
    offsets, quoted, at_start, closed = [0], False, True, False
    for i, ch in enumerate(text):
        if quoted:
            quoted, closed = ch != '"', ch == '"'
            continue
        if ch == '"' and (at_start or closed):
            quoted = True
        elif ch == ",":
            offsets.append(i + 1)
            at_start, closed = True, False
            continue
        at_start, closed = False, False
    return offsets


def _read_table(path: Path) -> _Table:
    shown = _shown(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError("E404", f"cannot read `{path.name}`: {e.strerror}", path=shown) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            "E404", f"`{path.name}` is not UTF-8 text: {e.reason}", path=shown, line=line, column=column
        ) from None
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    rows, starts, previous = [], [], 0
    try:
        for row in reader:
            if row and (len(row) > 1 or row[0].strip()):
                rows.append(row)
                starts.append(previous + 1)
            previous = reader.line_num
    except csv.Error as e:
        raise DataError("E404", f"malformed CSV: {e}", path=shown, line=reader.line_num) from None
    if not rows:
        raise DataError(
            "E405", f"`{path.name}` is empty: expected a header row and data rows", path=shown, line=None
        )
    table = _Table(shown, lines, [c.strip() for c in rows[0]], rows[1:], starts[1:], starts[0])
    if not table.rows:
        raise DataError(
            "E405", f"`{path.name}` has a header but no data rows", path=shown, line=table.header_line
        )
    seen = set()
    for j, name in enumerate(table.header):
        if not name or name in seen:
            problem = f"a second column named `{name}`" if name else "a column without a name"
            raise table.error("E414", -1, j, problem, help="every column needs a name of its own")
        seen.add(name)
    return table


def _assign(table: _Table, fields: list[Field]) -> list[tuple[Field, list[int]]]:
    """Which columns each field takes: its own, or (the one field without a column) the rest."""
    header, line = table.header, table.header_line
    named = [f for f in fields if f.name in header]
    rest = [f for f in fields if f.name not in header]
    plan = [(f, [header.index(f.name)]) for f in named]
    for f in named:
        if f.size != 1:
            raise table.error(
                "E414",
                -1,
                header.index(f.name),
                f"column `{f.name}` holds one value per sample, but `{f.name}` is {f.type}",
                help="name its feature columns otherwise, or use an .npz archive",
            )
    left = [j for j in range(len(header)) if header[j] not in {f.name for f in named}]
    missing = [f for f in rest if f.size == 1] if len(rest) > 1 else [f for f in rest if not left]
    if missing:
        names = ", ".join(f"`{f.name}`" for f in missing)
        raise DataError(
            "E401",
            f"`{Path(table.shown).name}` has no column {names}",
            path=table.shown,
            line=line,
            help=f"its columns: {', '.join(header[:12])}{', ...' if len(header) > 12 else ''}",
        )
    if len(rest) > 1:
        raise DataError(
            "E414",
            "a CSV gives the features of one input; "
            f"{', '.join(f'`{f.name}`' for f in rest)} all need feature columns",
            path=table.shown,
            line=line,
            help='use an .npz archive, or a mapping {name: "file.npy"}, with one array per input',
        )
    if rest:
        f = rest[0]
        if len(left) != f.size:
            raise DataError(
                "E402",
                f"expected {f.size} feature columns for input `{f.name}` {f.type}, received {len(left)}",
                path=table.shown,
                line=line,
                help="the columns not named after a target or input are the features of "
                f"`{f.name}`, in order",
            )
        plan.append((f, left))
    elif left:
        raise DataError(
            "E402",
            f"expected no feature columns, received {len(left)}: "
            f"{', '.join(f'`{header[j]}`' for j in left[:5])}",
            path=table.shown,
            line=line,
            help="every model input and target has a column of its own; remove the others",
        )
    return plan


def _first_bad_cell(table: _Table, kinds: dict[int, str]) -> DataError | None:
    """The first bad cell in file order. `kinds`: column -> float | int | text."""
    width = len(table.header)
    for r, row in enumerate(table.rows):
        for j in range(width):
            if j >= len(row) or not row[j].strip():
                return table.error(
                    "E406", r, j, "missing value", help="every row needs a value in every column"
                )
            kind, cell = kinds.get(j), row[j].strip()
            if kind is None or kind == "text":
                continue
            try:
                v = float(cell)
            except ValueError:
                return table.error("E407", r, j, f"non-numeric value {cell!r}; expected a number")
            if not math.isfinite(v):
                return table.error("E408", r, j, f"non-finite value {cell!r}; expected a finite number")
            if kind == "float" and abs(v) > _FLOAT32_MAX:
                return table.error("E408", r, j, f"value {cell!r} is beyond float32's range")
            if kind == "int" and v != int(v):
                return table.error("E412", r, j, f"expected an integer. Received: {cell!r}")
        if len(row) > width:
            return table.error("E414", r, width, f"row has {len(row)} cells; the header has {width} columns")
    return None


def _is_text(table: _Table, j: int) -> bool:
    """Whether a class column holds names: some filled cell is not a number."""
    cells = [c for row in table.rows if j < len(row) and (c := row[j].strip())]
    try:
        np.array(cells, dtype=str).astype(np.float64)
    except ValueError:
        return True
    return False


def _numbers(cells: np.ndarray, kinds: dict[int, str]) -> np.ndarray | None:
    """The numeric columns as float64 (text columns hold 0), or None when some cell is bad."""
    values = np.zeros(cells.shape)
    numeric = [j for j, kind in kinds.items() if kind != "text"]
    ints = [j for j, kind in kinds.items() if kind == "int"]
    text = [j for j, kind in kinds.items() if kind == "text"]
    try:
        values[:, numeric] = cells[:, numeric].astype(np.float64)
    except ValueError:
        return None
    if not np.isfinite(values).all() or (np.abs(values) > _FLOAT32_MAX).any():
        return None
    if (values[:, ints] != np.round(values[:, ints])).any() or (cells[:, text] == "").any():
        return None
    return values


def _load_csv(path: Path, fields: list[Field], labels: dict[str, list[str]]) -> Dataset:
    table = _read_table(path)
    plan = _assign(table, fields)
    kinds: dict[int, str] = {}  # column -> float | int | text
    for f, columns in plan:
        kind = "float" if f.dtype == "float32" else "int"
        if f.classes is not None and len(columns) == 1 and (f.name in labels or _is_text(table, columns[0])):
            kind = "text"
        kinds.update(dict.fromkeys(columns, kind))
    width, values = len(table.header), None
    if all(len(row) == width for row in table.rows):
        cells = np.char.strip(np.array(table.rows, dtype=str))  # (n, columns)
        values = _numbers(cells, kinds)
    if values is None:
        error = _first_bad_cell(table, kinds)
        raise error or DataError("E407", "a value is not a number", path=table.shown)
    arrays, found = {}, {}
    for f, columns in plan:
        if kinds[columns[0]] == "text":
            j = columns[0]
            out, found[f.name] = _text_labels(table, cells[:, j], j, f, labels.get(f.name))
        else:
            out = values[:, columns].astype(np.float32 if f.dtype == "float32" else np.int64)
            if f.classes is not None and (bad := (out < 0) | (out >= f.classes)).any():
                r, i = _at(bad)
                raise table.error(
                    "E409",
                    r,
                    columns[i],
                    f"class index {out[r, i]} is out of range; expected an integer in [0, {f.classes})",
                    help=f"the model has {f.classes} classes, numbered from 0",
                )
        arrays[f.name] = np.ascontiguousarray(out.reshape(len(table.rows), *f.shape))
    return Dataset(arrays, len(table.rows), found, table.shown)


def _text_labels(
    table: _Table, column: np.ndarray, j: int, f: Field, given: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Class names -> indices: the given mapping, or the sorted distinct names."""
    names = list(given) if given is not None else sorted(set(column.tolist()))
    ordered = np.array(names, dtype=str)
    order = np.argsort(ordered, kind="stable")
    pos = np.searchsorted(ordered[order], column).clip(0, len(names) - 1)
    known = ordered[order][pos] == column
    if not known.all():
        r = int(np.argmax(~known))
        raise table.error(
            "E410",
            r,
            j,
            f"unknown label {column[r]!r}; expected one of the training data's labels",
            help=f"labels: {', '.join(names[:20])}{', ...' if len(names) > 20 else ''}",
        )
    index = order[pos]
    if f.classes is not None and len(names) > f.classes:
        r = int(np.argmax(index >= f.classes))
        raise table.error(
            "E409",
            r,
            j,
            f"label {column[r]!r} is class {index[r]} of {len(names)}; the model has {f.classes} classes",
            help=f"labels, sorted: {', '.join(names[:20])}{', ...' if len(names) > 20 else ''}",
        )
    return index.astype(np.int64), names


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
