"""Which columns of a table each field reads, one rule for every tabular format (CSV, Parquet).
Reading training data: a field whose name is a column takes that column (one value per
sample); the one field that is not a column takes the others, in file order, reshaped row-major
to its per-sample shape. Reading a file after training: each input lists its columns (the
training data's, recorded) and takes those, by name; every other field (a target) takes the
column of its name; the file's other columns are read past, and a missing one is E401.

`table` is what the format's reader knows of the file before reading its values: `header`
(the column names), `shown` (the path for messages), `header_line` (the header's line, None
where the format has none) and `error(code, row, column, message, help=None)`, a DataError
located at a cell (row -1: the header)."""

from __future__ import annotations

from pathlib import Path

from nnc.runtime.data.dataset import DataError, Field, suggest


def assign(table, fields: list[Field]) -> list[tuple[Field, list[int]]]:
    """Which columns each field takes: the columns it lists (those of the training data, by
    name: the file's other columns are then ignored), its own, or (the one field without a
    column) the rest, in file order."""
    header, line = table.header, table.header_line
    listed = [f for f in fields if f.columns is not None]
    plan = []
    for f in listed:
        missing = [c for c in f.columns if c not in header]
        if missing:
            shown = ", ".join(f"`{c}`" for c in missing[:8]) + (", ..." if len(missing) > 8 else "")
            raise DataError(
                "E401",
                f"`{Path(table.shown).name}` has no column {shown}; the training data fed "
                f"{'it' if len(missing) == 1 else 'them'} to input `{f.name}`",
                path=table.shown,
                line=line,
                help=suggest(missing[0], header, "columns"),
            )
        plan.append((f, [header.index(c) for c in f.columns]))
    if listed:
        fields = [f for f in fields if f.columns is None]
        absent = [f for f in fields if f.name not in header]
        if absent:  # after training, no field takes "the other columns": they may be anything
            raise _no_column(table, absent)
    named = [f for f in fields if f.name in header]
    rest = [f for f in fields if f.name not in header]
    plan += [(f, [header.index(f.name)]) for f in named]
    for f in named:
        if f.size != 1 or f.any_length:
            raise table.error(
                "E414",
                -1,
                header.index(f.name),
                f"column `{f.name}` holds one value per sample, but `{f.name}` is {f.type}",
                help="name its feature columns otherwise, or use an .npz archive",
            )
    taken = {j for _, columns in plan for j in columns}
    left = [j for j in range(len(header)) if j not in taken]
    if listed and not rest:
        return plan  # the columns the model does not use are read past
    missing = (
        [f for f in rest if f.size == 1 and not f.any_length]
        if len(rest) > 1
        else [f for f in rest if not left]
    )
    if missing:
        raise _no_column(table, missing)
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
        if not f.fits_columns(len(left)):
            expected = f"a multiple of {f.size}" if f.any_length else str(f.size)
            raise DataError(
                "E402",
                f"expected {expected} feature columns for input `{f.name}` {f.type}, received {len(left)}",
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


def _no_column(table, fields: list[Field]) -> DataError:
    names = ", ".join(f"`{f.name}`" for f in fields)
    return DataError(
        "E401",
        f"`{Path(table.shown).name}` has no column {names}",
        path=table.shown,
        line=table.header_line,
        help=suggest(fields[0].name, table.header, "columns"),
    )
