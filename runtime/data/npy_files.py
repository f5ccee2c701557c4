"""NumPy files: an `.npz` archive with one array per field, a mapping of names to `.npy` files,
and a bare `.npy` file for a model that needs one array (`nnc predict --data x.npy`). Samples
are on the first axis; every array is checked by runtime/data/arrays.py. Nothing is unpickled:
files are read with allow_pickle=False."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from nnc.runtime.data.arrays import check_array, same_count
from nnc.runtime.data.dataset import DataError, Dataset, Field, shown_path, suggest
from nnc.runtime.data.reader import Reader

_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"


class NpzFile(Reader):
    kind = "a NumPy .npz archive"

    def names(self, path: Path) -> list[str]:
        _magic(path, _ZIP_MAGIC, self.kind)
        try:
            with zipfile.ZipFile(path) as archive:
                return [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
        except (OSError, zipfile.BadZipFile) as e:
            raise DataError("E404", f"`{path.name}` is corrupt: {e}", path=shown_path(path)) from None

    def check(self, path: Path, fields: list[Field]) -> None:
        names = self.names(path)
        for f in fields:
            if f.name not in names:
                raise DataError(
                    "E401",
                    f"`{path.name}` has no array `{f.name}` ({f.type})",
                    path=shown_path(path),
                    help=suggest(f.name, names, "arrays"),
                )

    def read(self, path: Path, fields: list[Field], labels) -> Dataset:
        self.check(path, fields)
        shown = shown_path(path)
        with _loaded(path, lambda: np.load(path, allow_pickle=False)) as archive:
            arrays = {}
            for f in fields:
                array = _loaded(path, lambda f=f: archive[f.name], f" array `{f.name}`")
                arrays[f.name] = check_array(array, f, shown)
        return Dataset(arrays, same_count(arrays, shown), {}, shown)


class NpyFiles(Reader):
    """{name: path of an .npy file}: one file per field."""

    kind = "a mapping of .npy files"

    def names(self, files: Mapping[str, Path]) -> list[str]:
        return list(files)

    def check(self, files: Mapping[str, Path], fields: list[Field]) -> None:
        for f in fields:
            if f.name not in files:
                raise DataError(
                    "E401",
                    f"the data mapping has no file for `{f.name}` ({f.type})",
                    path=_shown(files),
                    help=f'add `{f.name}: "FILE.npy"` to the mapping',
                )
        for path in files.values():
            _magic(path, _NPY_MAGIC, "a NumPy .npy file")

    def read(self, files: Mapping[str, Path], fields: list[Field], labels) -> Dataset:
        self.check(files, fields)
        arrays = {f.name: check_array(_read_npy(files[f.name]), f, shown_path(files[f.name])) for f in fields}
        return Dataset(arrays, same_count(arrays, _shown(files)), {}, _shown(files))


class NpyFile(Reader):
    """One .npy file holds one array: the data of a model that needs exactly one."""

    kind = "a NumPy .npy file"

    def names(self, path: Path) -> list[str]:
        _magic(path, _NPY_MAGIC, self.kind)
        return []

    def check(self, path: Path, fields: list[Field]) -> None:
        if len(fields) != 1:
            raise DataError(
                "E414",
                f"`{path.name}` holds one array; the model needs {len(fields)}: "
                f"{', '.join(f.name for f in fields)}",
                path=shown_path(path),
                help='map names to files, {image: "x.npy", label: "y.npy"}, or use an .npz archive',
            )
        _magic(path, _NPY_MAGIC, self.kind)

    def read(self, path: Path, fields: list[Field], labels) -> Dataset:
        self.check(path, fields)
        (f,) = fields
        shown = shown_path(path)
        array = check_array(_read_npy(path), f, shown)
        return Dataset({f.name: array}, len(array), {}, shown)


def _shown(files: Mapping[str, Path]) -> str:
    return ", ".join(shown_path(p) for p in files.values())


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
