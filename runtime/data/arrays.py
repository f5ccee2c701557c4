"""Arrays given in memory (the Python API: `fit({"x": x, "label": y})`), and the checks every
array source shares: an .npz archive's and a .npy file's arrays are checked by the same code."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from nnc.runtime.data.cells import IMPUTE_HELP, tight
from nnc.runtime.data.dataset import DataError, Dataset, Field, first_true, suggest
from nnc.runtime.data.reader import Reader

SHOWN = "<arrays>"


class Arrays(Reader):
    """A mapping of names to arrays, checked exactly as arrays read from an .npz."""

    kind = "arrays"

    def names(self, source: Mapping) -> list[str]:
        return list(source)

    def check(self, source: Mapping, fields: list[Field]) -> None:
        for f in fields:
            if f.name not in source:
                raise DataError(
                    "E401",
                    f"the data have no array `{f.name}` ({f.type})",
                    path=SHOWN,
                    help=suggest(f.name, list(source), "arrays")
                    or f"pass a mapping with the keys {', '.join(x.name for x in fields)}",
                )

    def read(self, source: Mapping, fields: list[Field], labels) -> Dataset:
        self.check(source, fields)
        out = {f.name: check_array(np.asarray(source[f.name]), f, SHOWN) for f in fields}
        return Dataset(out, same_count(out, SHOWN), {}, SHOWN)


def check_array(a: np.ndarray, f: Field, shown: str) -> np.ndarray:
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
    if f.dtype == "string":
        return _strings(a, f, shown)
    if f.dtype == "bool" and a.dtype != np.bool_:
        a = _flags(a, f, shown)
    if a.dtype.kind not in "biuf":
        raise DataError(
            "E412",
            f"array `{f.name}` must hold {f.dtype} numbers. Received: dtype {a.dtype}",
            path=shown,
            help="save it as a numeric array (float32, or int64 for classes and tokens)",
        )
    if f.dtype == "bool":
        return np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) & ~(np.isnan(a) if f.missing else False)
        if bad.any():
            i = first_true(bad)
            raise DataError(
                "E408",
                f"array `{f.name}` holds {a[i]} at index {list(i)} (sample {i[0]}); expected finite numbers",
                path=shown,
                help=IMPUTE_HELP if np.isnan(a[i]) else None,
            )
    if f.dtype == "float32":
        with np.errstate(over="ignore"):  # overflow is reported below, located
            out = a.astype(np.float32)
        bad = ~np.isfinite(out) & ~np.isnan(a)
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
    if a.dtype.kind == "f" and (bad := np.abs(a) >= 2.0**63).any():
        i = first_true(bad)
        raise DataError("E412", f"array `{f.name}` holds {a[i]} at index {list(i)}, beyond int64", path=shown)
    if a.dtype == np.uint64 and (bad := a > np.iinfo(np.int64).max).any():
        i = first_true(bad)
        raise DataError("E412", f"array `{f.name}` holds {a[i]} at index {list(i)}, beyond int64", path=shown)
    if f.dtype == "uint8":
        if (bad := (a < 0) | (a > 255)).any():
            i = first_true(bad)
            raise DataError(
                "E409",
                f"array `{f.name}` holds {a[i]} at index {list(i)} (sample {i[0]}); "
                "expected a pixel in [0, 255]",
                path=shown,
            )
        return np.ascontiguousarray(a.astype(np.uint8))
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


def same_count(arrays: dict[str, np.ndarray], shown: str) -> int:
    counts = {name: len(a) for name, a in arrays.items()}
    if len(set(counts.values())) > 1:
        raise DataError(
            "E413",
            "arrays hold different numbers of samples: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
            path=shown,
            help="the first axis of every array counts the same samples",
        )
    if not counts:
        raise ValueError("same_count() needs at least one array")
    return next(iter(counts.values()))


def _strings(a: np.ndarray, f: Field, shown: str) -> np.ndarray:
    """Text, or integers (category codes) as their decimal text, as a CSV cell gives them."""
    if (a.dtype.kind == "O" and all(isinstance(v, str) for v in a.reshape(-1))) or a.dtype.kind in "Uiu":
        return tight(a.astype(str))
    raise DataError(
        "E412",
        f"array `{f.name}` must hold strings ({f.type}). Received: dtype {a.dtype}",
        path=shown,
        help="categories and text are strings; integer codes are read as their digits",
    )


def _flags(a: np.ndarray, f: Field, shown: str) -> np.ndarray:
    """0 and 1 (any numeric dtype) as bool; anything else is refused."""
    if a.dtype.kind not in "iuf" or (bad := (a != 0) & (a != 1)).any():
        at = f" {a[first_true(bad)]} at index {list(first_true(bad))}" if a.dtype.kind in "iuf" else ""
        raise DataError(
            "E412",
            f"array `{f.name}` must hold yes/no values (bool, or 0 and 1). Received: dtype {a.dtype}{at}",
            path=shown,
        )
    return a.astype(np.bool_)
