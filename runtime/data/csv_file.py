"""Reading a CSV file into a `Dataset`, refusing bad data at the line and column of the first
bad cell. The header row names the columns; a field whose name is a column takes that column,
and the one field that is not a column takes the others, in file order, reshaped row-major to
its per-sample shape. A class target (int64 with `classes`) whose cells are not all numbers
holds names: sorted, they become the indices 0..k-1, or a given mapping (the training data's)
is applied. `nnc check` reads only the header, and refuses what it shows with the same code
(runtime/data/columns.py) that a full read runs first. The error codes are listed in `nnc.runtime.data`."""

from __future__ import annotations

import codecs
import csv
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from nnc.runtime.data import cells
from nnc.runtime.data.columns import assign
from nnc.runtime.data.dataset import DataError, Dataset, Field, first_true, not_utf8, shown_path, utf8_text
from nnc.runtime.data.reader import Reader, numbers_classes


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


def _read_table(path: Path, *, header_only: bool = False) -> _Table:
    """The parsed file; with `header_only`, only as far as the header row (`nnc check` reads no
    further, however large the file), and no rows."""
    shown = shown_path(path)
    if header_only:
        kept: list[str] = []
        lines = _header_lines(path, shown, kept)
    else:
        kept = lines = _all_lines(path, shown)
    reader = csv.reader(lines)
    rows, starts, previous = [], [], 0
    try:
        for row in reader:
            if reader.line_num > previous + 1 and any("\n" in c or "\r" in c for c in row):
                raise _spanning(path, shown, kept, row, previous + 1, reader.line_num)
            if row and (len(row) > 1 or row[0].strip()):
                rows.append(row)
                starts.append(previous + 1)
                if header_only:
                    break
            previous = reader.line_num
    except csv.Error as e:  # located where the record began: an unclosed quote runs to the end
        raise DataError("E404", f"malformed CSV: {e}", path=shown, line=previous + 1) from None
    if not rows:
        raise DataError(
            "E405", f"`{path.name}` is empty: expected a header row and data rows", path=shown, line=None
        )
    table = _Table(shown, kept, [c.strip() for c in rows[0]], rows[1:], starts[1:], starts[0])
    if not header_only and not table.rows:
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


def _spanning(path: Path, shown: str, lines: list[str], row: list[str], line: int, last: int) -> DataError:
    """A cell that runs over several lines: a quote that is never closed (cells are one line)."""
    j = next(j for j, c in enumerate(row) if "\n" in c or "\r" in c)
    offsets = _cell_offsets(lines[line - 1].rstrip("\r\n"))
    return DataError(
        "E404",
        f"malformed CSV: the quote that opens column {j + 1} here is not closed before line {last}",
        path=shown,
        line=line,
        column=offsets[j] + 1 if j < len(offsets) else None,
        help='close the quote on the same line: "text"',
    )


def _all_lines(path: Path, shown: str) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError("E404", f"cannot read `{path.name}`: {e.strerror}", path=shown) from None
    return io.StringIO(utf8_text(data, path, shown), newline="").readlines()


def _header_lines(path: Path, shown: str, kept: list[str]) -> Iterator[str]:
    """The file's lines, decoded one at a time as the CSV reader asks for them, and appended to
    `kept` (the header's location needs its line). Lines end as csv sees them: at \n, \r\n
    or \r."""
    try:
        with path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if number == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise not_utf8(path, shown, e, number, e.start + 1) from None
                for line in io.StringIO(text, newline="").readlines():
                    kept.append(line)
                    yield line
    except OSError as e:
        raise DataError("E404", f"cannot read `{path.name}`: {e.strerror}", path=shown) from None


def _first_bad_cell(table: _Table, kinds: dict[int, str]) -> DataError | None:
    """The first bad cell in file order. `kinds`: column -> its kind (runtime/data/cells.py);
    the other columns are not read."""
    width = len(table.header)
    for r, row in enumerate(table.rows):
        for j in range(width):
            if j not in kinds:
                continue
            if j >= len(row):
                help = "every row needs a value in every column"
                return table.error("E406", r, j, "missing value", help=help)
            if found := cells.problem(kinds[j], row[j]):
                code, message, help = found
                return table.error(code, r, j, message, help=help)
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


def _numbers(table_cells: np.ndarray, kinds: dict[int, str]) -> np.ndarray | None:
    """The numeric columns as float64 (string and text columns hold 0), or None when some cell
    is bad."""
    values = np.zeros(table_cells.shape)
    for j, kind in kinds.items():
        if kind in ("string", "text"):
            if kind == "text" and (np.char.strip(table_cells[:, j]) == "").any():
                return None
            continue
        column = cells.numbers(table_cells[:, j], kind)
        if column is None:
            return None
        values[:, j] = column
    return values


class CsvFile(Reader):
    kind = "a CSV file"

    def names(self, path: Path) -> list[str]:
        return _read_table(path, header_only=True).header

    def check(self, path: Path, fields: list[Field]) -> None:
        assign(_read_table(path, header_only=True), fields)

    def read(self, path: Path, fields: list[Field], labels: dict[str, list[str]]) -> Dataset:
        return _read(path, fields, labels)

    def batches(
        self, path: Path, fields: list[Field], labels: dict[str, list[str]], batch_size: int
    ) -> Iterator[Dataset]:
        """`batch_size` rows at a time through the fast reader, so memory follows the batch,
        not the file. A batch it cannot read hands over to the careful reader of the whole
        file, which locates the first bad cell with the file's own line numbers (or, should the
        file be fine after all, goes on from that row)."""
        head = _read_table(path, header_only=True)
        plan = assign(head, fields)
        if numbers_classes(plan, labels):
            yield from super().batches(path, fields, labels, batch_size)
            return
        done = 0
        try:
            with path.open(encoding="utf-8-sig", newline="") as f:
                for _ in islice(f, head.header_line):
                    pass
                rows = (line for line in f if line.strip())  # blank lines are no rows
                while chunk := list(islice(rows, batch_size)):
                    part = _read_fast(chunk, head, plan, labels)
                    if part is None:
                        break
                    yield part
                    done += part.n
                else:
                    if done:
                        return
        except (UnicodeError, OSError):
            pass
        rest = _read_careful(path, fields, labels)  # raises the located error, in all but rare cases
        for start in range(done, rest.n, batch_size):
            yield rest.take(np.arange(start, min(start + batch_size, rest.n)))

    def class_names(self, path: Path, fields: list[Field]) -> dict[str, list[str] | None]:
        """For each class target with a column: its class names as reading the file numbers
        them (sorted: class 0 is the first), or None when the column holds class indices."""
        table = _read_table(path)
        out = {}
        for f in fields:
            if f.classes is not None and not f.tokens and f.name in table.header:
                j = table.header.index(f.name)
                names = {c for row in table.rows if j < len(row) and (c := row[j].strip())}
                out[f.name] = sorted(names) if _is_text(table, j) else None
        return out


def _read(path: Path, fields: list[Field], labels: dict[str, list[str]]) -> Dataset:
    """The fast reader when the file is well formed, else the careful one, which also finds and
    locates what is wrong with it."""
    head = _read_table(path, header_only=True)
    plan = assign(head, fields)
    return _read_fast(path, head, plan, labels) or _read_careful(path, fields, labels)


def _read_fast(source: Path | list[str], head: _Table, plan, labels: dict[str, list[str]]) -> Dataset | None:
    """One pass of numpy's C reader straight into one float64 array, each string column (a
    category, a class name) numbered as its values come and looked up after: memory about
    twice the file's size (the careful reader holds every cell as a Python string: 18 times).
    `source` is the file (its rows after the header) or some of its data lines. None when any
    cell, row or value is not what the fields need: the careful reader then says which, where."""
    width = len(head.header)
    used = {j for _, columns in plan for j in columns}
    kinds = _kinds(plan, labels, text=lambda j: False)
    classes = {cols[0]: f for f, cols in plan if f.classes is not None and len(cols) == 1}
    strings = {j for j, kind in kinds.items() if kind == "string"} | set(classes)
    seen: dict[int, dict[str, int]] = {j: {} for j in strings}

    def numbered(names: dict[str, int], strip: bool):
        def number(cell: str) -> int:
            if "\n" in cell or "\r" in cell:
                raise ValueError("a cell over several lines")  # the careful reader says where
            return names.setdefault(cell.strip() if strip else cell, len(names))

        return number  # a class name is stripped, as the careful reader compares them

    converters = {j: numbered(seen[j], strip=j in classes) for j in strings}
    converters.update({j: cells.boolean for j, kind in kinds.items() if kind == "bool"})
    converters.update({j: cells.missing_or_number for j, kind in kinds.items() if kind == "float?"})
    converters.update({j: _unread for j in range(width) if j not in used})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty file: the careful reader says so
            values = np.loadtxt(
                source,
                delimiter=",",
                quotechar='"',
                comments=None,
                skiprows=head.header_line if isinstance(source, Path) else 0,
                dtype=np.float64,
                encoding="utf-8-sig",
                ndmin=2,
                converters=converters,
            )
    except (ValueError, IndexError, UnicodeError, OverflowError):
        return None
    if values.shape[1] != width or len(values) == 0:
        return None
    if not isinstance(source, Path) and len(values) != len(source):
        return None  # a quoted cell ran over several of these lines
    found, text = {}, {}
    for j, f in classes.items():
        names = list(seen[j])  # in the order they came; values hold their positions
        if "" in names:
            return None  # a missing value
        numbers = _as_numbers(names) if f.name not in labels else None
        if numbers is not None:
            values[:, j] = numbers[values[:, j].astype(np.int64)]
            continue
        known = list(labels[f.name]) if f.name in labels else sorted(names)
        index = {name: i for i, name in enumerate(known)}
        if any(name not in index for name in names) or len(known) > f.classes:
            return None
        values[:, j] = np.array([index[name] for name in names], np.float64)[values[:, j].astype(np.int64)]
        found[f.name] = known
    for j in strings - set(classes):
        text[j] = np.array(list(seen[j]), dtype=str)[values[:, j].astype(np.int64)]
    arrays = {}
    for f, columns in plan:
        shape = (len(values), *(-1 if d is None else d for d in f.shape))
        if f.dtype == "string":
            arrays[f.name] = cells.tight(np.stack([text[j] for j in columns], axis=1).reshape(shape))
            continue
        # consecutive columns (the usual features) as a view: no copy of the largest part
        contiguous = columns == list(range(columns[0], columns[0] + len(columns)))
        chosen = values[:, columns[0] : columns[0] + len(columns)] if contiguous else values[:, columns]
        out = _converted(chosen, f, kinds[columns[0]])
        if out is None:
            return None
        arrays[f.name] = np.ascontiguousarray(out.reshape(shape))
    del values
    header = head.header
    columns = {f.name: [header[j] for j in cols] for f, cols in plan}
    ignored = [name for j, name in enumerate(header) if j not in used]
    return Dataset(arrays, len(next(iter(arrays.values()))), found, head.shown, columns, ignored)


def _converted(chosen: np.ndarray, f: Field, kind: str, *, classes: bool = True) -> np.ndarray | None:
    """Numbers read as float64 in the field's dtype; None when some value does not fit it (a
    class index outside the classes too, unless `classes` is False)."""
    present = chosen[~np.isnan(chosen)] if kind == "float?" else chosen
    if not np.isfinite(present).all():
        return None
    if f.dtype == "float32":
        return None if (np.abs(present) > cells.FLOAT32_MAX).any() else chosen.astype(np.float32)
    if f.dtype == "bool":
        return chosen.astype(np.bool_)
    if (chosen != np.round(chosen)).any() or (np.abs(chosen) >= cells.INT64_LIMIT).any():
        return None
    if f.dtype == "uint8":
        return None if ((chosen < 0) | (chosen > 255)).any() else chosen.astype(np.uint8)
    if classes and f.classes is not None and ((chosen < 0) | (chosen >= f.classes)).any():
        return None
    return chosen.astype(np.int64)


def _kinds(plan, labels: dict[str, list[str]], text) -> dict[int, str]:
    """column -> its kind (runtime/data/cells.py); `text(j)` says whether class column j holds
    names rather than indices (the training data's labels say so for a file read after it)."""
    kinds: dict[int, str] = {}
    for f, columns in plan:
        kind = cells.kind_of(f)
        if f.classes is not None and len(columns) == 1 and (f.name in labels or text(columns[0])):
            kind = "text"
        kinds.update(dict.fromkeys(columns, kind))
    return kinds


def _unread(cell: str) -> float:
    return 0.0  # a column no field reads: whatever it holds


def _as_numbers(names: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(n) for n in names], np.float64)
    except ValueError:
        return None


def _read_careful(path: Path, fields: list[Field], labels: dict[str, list[str]]) -> Dataset:
    table = _read_table(path)
    plan = assign(table, fields)
    kinds = _kinds(plan, labels, text=lambda j: _is_text(table, j))
    width, values = len(table.header), None
    if all(len(row) <= width for row in table.rows):
        # A short row lacks values: "" fails any column that is read, and no other
        padded = [row if len(row) == width else row + [""] * (width - len(row)) for row in table.rows]
        raw = np.array(padded, dtype=str)  # (n, columns), as the file has them: strings keep spaces
        stripped = np.char.strip(raw)
        values = _numbers(raw, kinds)
    if values is None:
        error = _first_bad_cell(table, kinds)
        raise error or DataError("E407", "a value is not a number", path=table.shown)
    arrays, found = {}, {}
    for f, columns in plan:
        kind = kinds[columns[0]]
        if kind == "text":
            j = columns[0]
            out, found[f.name] = _text_labels(table, stripped[:, j], j, f, labels.get(f.name))
        elif kind == "string":
            out = cells.tight(raw[:, columns])
        else:
            out = _converted(values[:, columns], f, kind, classes=False)
            if f.classes is not None and (bad := (out < 0) | (out >= f.classes)).any():
                r, i = first_true(bad)
                raise table.error(
                    "E409",
                    r,
                    columns[i],
                    f"{f.what} {table.rows[r][columns[i]].strip()} is out of range; "
                    f"expected an integer in [0, {f.classes})",
                    help=f.range_help,
                )
        shape = (-1 if d is None else d for d in f.shape)  # a free length takes what the columns give
        arrays[f.name] = np.ascontiguousarray(out.reshape(len(table.rows), *shape))
    columns = {f.name: [table.header[j] for j in cols] for f, cols in plan}
    ignored = [name for j, name in enumerate(table.header) if j not in kinds]
    return Dataset(arrays, len(table.rows), found, table.shown, columns, ignored)


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
            f"unknown label {str(column[r])!r}; expected one of the training data's labels",
            help=f"labels: {', '.join(names[:20])}{', ...' if len(names) > 20 else ''}",
        )
    index = order[pos]
    if f.classes is not None and len(names) > f.classes:
        r = int(np.argmax(index >= f.classes))
        raise table.error(
            "E409",
            r,
            j,
            f"label {str(column[r])!r} is class {index[r]} of {len(names)}; "
            f"the model has {f.classes} classes",
            help=f"labels, sorted: {', '.join(names[:20])}{', ...' if len(names) > 20 else ''}",
        )
    return index.astype(np.int64), names
