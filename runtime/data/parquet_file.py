"""Reading a Parquet file into a `Dataset`, through pyarrow (the `parquet` extra). The columns
are assigned to the fields by the same rules as a CSV's (runtime/data/columns.py), and each
value is held to the same rules by kind (runtime/data/cells.py), read from the column's type
instead of from text:

    float, float?   any integer or floating column; a null (or NaN) is a missing value
    int, uint8      an integer column, or a floating one holding whole numbers
    bool            a boolean column, an integer one of 0 and 1, or a string one of yes/no words
    string          a string column (a null is the empty string: missing), or an integer one (its
                    codes, as their digits, as a CSV gives them)

A dictionary column (pandas's `category`) is read as its values; a column of nulls only (Arrow
type `null`) as missing values.
    text            a class target's names: a string column

A column of another type is refused, naming it and its type; a bad value is located at its
row and column. `nnc check` reads the schema only (the file's footer)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from nnc.runtime.data import cells
from nnc.runtime.data.columns import assign
from nnc.runtime.data.dataset import DataError, Dataset, Field, first_true, shown_path
from nnc.runtime.data.reader import Reader, numbers_classes
from nnc.runtime.errors import UsageError


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UsageError(
            "E550",
            "reading Parquet files needs pyarrow, which is not installed",
            help="pip install 'nnc[parquet]'",
        ) from None
    return pyarrow


@dataclass
class _Columns:
    """What columns.assign needs of a Parquet file: its column names, located by name."""

    shown: str
    header: list[str]
    header_line: None = None
    first_row: int = 0  # of the rows at hand: a batch's rows are numbered in the file

    def error(self, code: str, row: int, column: int, message: str, help: str | None = None) -> DataError:
        name = self.header[column] if column < len(self.header) else f"#{column + 1}"
        at = f"row {self.first_row + row + 1}, column `{name}`" if row >= 0 else f"column `{name}`"
        return DataError(code, f"{at}: {message}", path=self.shown, help=help)


def _schema(path: Path) -> _Columns:
    pa = _pyarrow()
    try:
        schema = pa.parquet.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        raise DataError("E404", f"cannot read `{path.name}` as Parquet: {e}", path=shown_path(path)) from None
    return _named(shown_path(path), list(schema.names))


def _named(shown: str, names: list[str]) -> _Columns:
    """The columns, refused (E414) where two share a name or one has none."""
    table = _Columns(shown, names)
    seen = set()
    for j, name in enumerate(names):
        if not name or name in seen:
            problem = f"a second column named `{name}`" if name else "a column without a name"
            raise table.error("E414", -1, j, problem, help="every column needs a name of its own")
        seen.add(name)
    return table


class ParquetFile(Reader):
    kind = "a Parquet file"

    def names(self, path: Path) -> list[str]:
        return _schema(path).header

    def check(self, path: Path, fields: list[Field]) -> None:
        assign(_schema(path), fields)

    def read(self, path: Path, fields: list[Field], labels: dict[str, list[str]]) -> Dataset:
        pa = _pyarrow()
        table = _schema(path)
        plan = assign(table, fields)
        try:
            data = pa.parquet.read_table(path, columns=_used(table, plan))
        except (OSError, pa.ArrowException) as e:
            raise DataError("E404", f"cannot read `{path.name}` as Parquet: {e}", path=table.shown) from None
        if data.num_rows == 0:
            raise DataError("E405", f"`{path.name}` has no rows", path=table.shown)
        return _dataset(table, data, plan, labels)

    def batches(
        self, path: Path, fields: list[Field], labels: dict[str, list[str]], batch_size: int
    ) -> Iterator[Dataset]:
        """`batch_size` rows at a time (pyarrow reads the file's row groups as it goes), so
        memory follows the batch, not the file."""
        pa = _pyarrow()
        table = _schema(path)
        plan = assign(table, fields)
        if numbers_classes(plan, labels):
            yield from super().batches(path, fields, labels, batch_size)
            return
        done = 0
        try:
            batches = pa.parquet.ParquetFile(path).iter_batches(batch_size, columns=_used(table, plan))
            for batch in batches:
                if batch.num_rows:
                    yield _dataset(replace(table, first_row=done), batch, plan, labels)
                    done += batch.num_rows
        except (OSError, pa.ArrowException) as e:
            raise DataError("E404", f"cannot read `{path.name}` as Parquet: {e}", path=table.shown) from None
        if done == 0:
            raise DataError("E405", f"`{path.name}` has no rows", path=table.shown)


def from_arrow(data, fields: list[Field], labels: dict[str, list[str]], shown: str) -> Dataset:
    """`fields` from a pyarrow Table or RecordBatch in memory (a batch of a Ray Dataset), read
    by the rules of a Parquet file's columns; a bad value is located at its row of `data`, in
    `shown` (what the messages call the batch)."""
    table = _named(shown, list(data.schema.names))
    return _dataset(table, data, assign(table, fields), labels)


def _used(table: _Columns, plan) -> list[str]:
    return [table.header[j] for j in sorted({j for _, columns in plan for j in columns})]


def _dataset(table: _Columns, data, plan, labels: dict[str, list[str]]) -> Dataset:
    """The fields' arrays from `data`, a pyarrow Table or RecordBatch of the used columns."""
    arrays, found = {}, {}
    for f, columns in plan:
        kind = cells.kind_of(f)
        parts = [_column(table, data.column(table.header[j]), j, f, kind, labels, found) for j in columns]
        out = parts[0][:, None] if len(parts) == 1 else np.stack(parts, axis=1)
        if f.classes is not None and kind == "int" and (bad := (out < 0) | (out >= f.classes)).any():
            r, i = first_true(bad)
            raise table.error(
                "E409",
                r,
                columns[i],
                f"{f.what} {out[r, i]} is out of range; expected an integer in [0, {f.classes})",
                help=f.range_help,
            )
        shape = (data.num_rows, *(-1 if d is None else d for d in f.shape))
        arrays[f.name] = np.ascontiguousarray(out.reshape(shape))
    columns = {f.name: [table.header[j] for j in cols] for f, cols in plan}
    used = set(_used(table, plan))
    ignored = [name for name in table.header if name not in used]
    return Dataset(arrays, data.num_rows, found, table.shown, columns, ignored)


def _column(table: _Columns, column, j: int, f: Field, kind: str, labels, found: dict) -> np.ndarray:
    """One Parquet column as the field's dtype, by the rules of the module docstring."""
    import pyarrow.types as t

    if t.is_dictionary(column.type):  # a pandas `category` column: its values, decoded
        column = column.cast(column.type.value_type)
    arrow = column.type
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    if t.is_null(arrow) and kind != "text":  # every value missing: of no type in particular
        return (
            np.full(len(nulls), "")
            if kind == "string"
            else _checked(table, np.full(len(nulls), np.nan), j, kind)
        )

    def refuse() -> DataError:
        return table.error(
            "E412",
            -1,
            j,
            f"holds {arrow}, which {f.name} ({f.type}) cannot read",
            help=f"{f.name} reads {_READS[kind]}",
        )

    is_string = t.is_string(arrow) or t.is_large_string(arrow)
    if f.classes is not None and not f.tokens and is_string:
        return _names(table, column, j, f, labels, found, nulls)
    if kind == "string":
        if is_string:
            return cells.tight(np.array(column.fill_null("").to_pylist(), dtype=str))
        if t.is_integer(arrow) and not nulls.any():
            return cells.tight(column.to_numpy().astype(str))
        raise refuse()
    if kind == "bool":
        if t.is_boolean(arrow) and not nulls.any():
            return column.to_numpy(zero_copy_only=False).astype(np.bool_)
        if is_string:
            words = np.array(column.fill_null("").to_pylist(), dtype=str)
            return _checked(table, words, j, kind).astype(np.bool_)
        if t.is_integer(arrow):  # 0 and 1, as their digits: not "1.0"
            digits = column.fill_null(0).to_numpy().astype(str)
            return _checked(table, np.where(nulls, "", digits), j, kind).astype(np.bool_)
        if not t.is_boolean(arrow):
            raise refuse()
    elif not (t.is_integer(arrow) or t.is_floating(arrow)):
        raise refuse()
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    values[nulls] = np.nan
    return _checked(table, values, j, kind)


_DTYPES = {"float": np.float32, "float?": np.float32, "uint8": np.uint8, "bool": np.float64}
_READS = {
    "float": "numbers",
    "float?": "numbers, with gaps",
    "int": "integers",
    "uint8": "integers from 0 to 255",
    "bool": "true/false, 0/1 or yes/no values",
    "string": "strings (or integer codes)",
    "text": "class names",
}


def _checked(table: _Columns, values: np.ndarray, j: int, kind: str) -> np.ndarray:
    """Numbers (or yes/no words) held to the cell rules of `kind`; the first bad value located."""
    if values.dtype.kind == "U":
        column = cells.numbers(values, kind)
        texts = values
    else:
        texts = np.where(np.isnan(values), "", values.astype(str))
        column = cells.numbers(texts, kind)
    if column is None:
        for r, text in enumerate(texts.tolist()):
            if found := cells.problem(kind, text):
                code, message, help = found
                raise table.error(code, r, j, message, help=help)
        raise table.error("E407", -1, j, "a value is not what the column should hold")
    return column.astype(_DTYPES.get(kind, np.int64))


def _names(table: _Columns, column, j: int, f: Field, labels, found: dict, nulls) -> np.ndarray:
    """A class target given by name: the names sorted (or the training data's), as indices."""
    if nulls.any():
        r = int(np.argmax(nulls))
        raise table.error("E406", r, j, "missing value", help="every row needs a label")
    names = np.array(column.to_pylist(), dtype=str)
    known = list(labels[f.name]) if f.name in labels else sorted(set(names.tolist()))
    index = {name: i for i, name in enumerate(known)}
    for r, name in enumerate(names.tolist()):
        if name not in index:
            raise table.error(
                "E410", r, j, f"unknown label {name!r}; expected one of the training data's labels"
            )
        if index[name] >= f.classes:
            raise table.error(
                "E409",
                r,
                j,
                f"label {name!r} is class {index[name]} of {len(known)}; the model has {f.classes}",
            )
    found[f.name] = known
    return np.array([index[name] for name in names.tolist()], np.int64)
