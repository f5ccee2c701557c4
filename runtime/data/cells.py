"""What one value of a table (a CSV cell, a Parquet value) may be for the field that reads it:
one rule per kind of field, shared by every tabular reader so that they refuse the same values
with the same words.

    float    a float32 number (features); a missing value is refused
    float?   a float32 number or a missing value, read as NaN (an input read by `impute`)
    int      an int64 integer (token ids, class indices)
    uint8    an integer from 0 to 255 (pixels)
    bool     a yes/no value: true/false, yes/no, t/f, y/n, 1/0, in any case
    string   the text as it is (categories, text): an empty cell is the empty string
    text     a class label given by name (a class target whose values are not all numbers)

A missing value is an empty cell or one of MISSING: pandas's default markers, and `?` (as the
UCI repository's files write it)."""

from __future__ import annotations

import math

import numpy as np
from nnc.runtime.data.dataset import Field

MISSING = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"}
    | {"<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "?"}
)
TRUE = frozenset({"true", "t", "yes", "y", "1"})
FALSE = frozenset({"false", "f", "no", "n", "0"})
FLOAT32_MAX = float(np.finfo(np.float32).max)
INT64_LIMIT = 2.0**63

IMPUTE_HELP = "read the input through `impute(...)` to fill missing values, or fill them in the file"


def kind_of(field: Field) -> str:
    if field.dtype == "float32":
        return "float?" if field.missing else "float"
    if field.dtype in ("string", "bool", "uint8"):
        return field.dtype
    return "int"


def boolean(cell: str) -> float:
    """1.0 or 0.0; ValueError for a cell that is not a yes/no value."""
    word = cell.strip().lower()
    if word in TRUE:
        return 1.0
    if word in FALSE:
        return 0.0
    raise ValueError(cell)


def missing_or_number(cell: str) -> float:
    """NaN for a missing value, else the number; ValueError for neither."""
    text = cell.strip()
    return math.nan if text in MISSING else float(text)


def problem(kind: str, cell: str) -> tuple[str, str, str | None] | None:
    """(code, message, help) of a cell that `kind` refuses; None when it is fine."""
    text = cell.strip()
    if kind in ("string", "text"):
        return None if text or kind == "string" else ("E406", "missing value", "every row needs a label")
    if kind == "bool":
        if text.lower() in TRUE | FALSE:
            return None
        if text in MISSING:
            return "E406", "missing value", "a yes/no column needs a value in every row"
        return "E407", f"{cell!r} is not a yes/no value", "use true/false, yes/no or 1/0"
    if text in MISSING and kind != "float?":
        help = IMPUTE_HELP if kind == "float" else "every row needs a value in every column"
        return "E406", "missing value" + (f" ({text!r})" if text else ""), help
    if kind == "float?" and text in MISSING:
        return None
    try:
        v = float(text)
    except ValueError:
        return "E407", f"non-numeric value {text!r}; expected a number", None
    if not math.isfinite(v):
        return "E408", f"non-finite value {text!r}; expected a finite number", None
    if kind.startswith("float") and abs(v) > FLOAT32_MAX:
        return "E408", f"value {text!r} is beyond float32's range", None
    if kind in ("int", "uint8") and v != int(v):
        return "E412", f"expected an integer. Received: {text!r}", None
    if kind == "int" and abs(v) >= INT64_LIMIT:
        return "E412", f"integer {text!r} is beyond int64", None
    if kind == "uint8" and not 0 <= v <= 255:
        return "E409", f"pixel value {text!r} is out of range; expected an integer in [0, 255]", None
    return None


def numbers(cells: np.ndarray, kind: str) -> np.ndarray | None:
    """A column of cells (strings) as float64 by `kind` (NaN for a missing float?), or None
    when some cell is one `problem` refuses."""
    try:
        if kind == "bool":
            lowered = np.char.lower(np.char.strip(cells))
            if not np.isin(lowered, list(TRUE | FALSE)).all():
                return None
            return np.isin(lowered, list(TRUE)).astype(np.float64)
        stripped = np.char.strip(cells)
        gaps = np.isin(stripped, list(MISSING)) if kind == "float?" else None
        values = np.where(gaps, "nan", stripped) if gaps is not None else stripped
        values = values.astype(np.float64)
    except ValueError:
        return None
    finite = np.isfinite(values) | (gaps if gaps is not None else False)
    if not finite.all():
        return None
    present = values[np.isfinite(values)]
    if kind.startswith("float") and (np.abs(present) > FLOAT32_MAX).any():
        return None
    whole = kind in ("int", "uint8")
    if whole and ((present != np.round(present)).any() or (np.abs(present) >= INT64_LIMIT).any()):
        return None
    if kind == "uint8" and ((present < 0) | (present > 255)).any():
        return None
    return values


def tight(strings: np.ndarray) -> np.ndarray:
    """Strings in the narrowest unicode dtype that holds them: the same values give the same
    array (and data fingerprint) whichever reader made them."""
    width = int(np.char.str_len(strings).max()) if strings.size else 1
    return np.ascontiguousarray(strings.astype(f"<U{max(width, 1)}"))
