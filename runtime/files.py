"""Writing files atomically: a crash, a full disk or Ctrl-C at any moment leaves either the old
file or the new one, never a torn one. The data goes to a temporary file in the same folder
(so the rename cannot cross file systems), is flushed to disk, and replaces the target with
`os.replace`, which is atomic on POSIX and Windows. The file gets the permissions any program
gives a new file (0666 less the umask: 0644 under the usual 0022), not the temporary file's
private 0600; a missing folder is made."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import numpy as np


def write_atomic(path: Path, write: Callable[[IO[bytes]], None], *, durable: bool = True) -> None:
    """`durable=False` skips the flushes to disk: the file is still whole or old after a crash
    of nnc, but a power failure may lose it (a log that the next checkpoint rewrites)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # named after the file asked for, not the temporary one
        raise OSError(e.errno, e.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _sync_folder(path.parent)


def _umask() -> int:
    # Reading the umask means setting it; it is set straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sync_folder(folder: Path) -> None:
    # The rename itself lives in the folder's entry table; fsync it where the OS allows.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: Path, text: str, *, durable: bool = True) -> None:
    write_atomic(path, lambda f: f.write(text.encode("utf-8")), durable=durable)


def to_json(value, **options) -> str:
    """JSON that every parser reads: a float that is not finite (a metric that saw nothing)
    becomes null, where Python would write NaN or Infinity, which strict parsers refuse."""
    return json.dumps(_finite(value), allow_nan=False, **options)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def strings(value) -> bool:
    """A JSON list of strings."""
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def named_strings(value) -> bool:
    """A JSON object of lists of strings: class names by target, columns by input."""
    return isinstance(value, dict) and all(isinstance(k, str) and strings(v) for k, v in value.items())


def damaged(
    document: dict, checks: Mapping[str, Callable[[object], bool]], required: tuple = ()
) -> str | None:
    """The first key of a JSON object that is missing or does not hold what it should, or None.
    Files nnc reads back (model.json, checkpoint metadata, ONNX metadata) are checked with
    this, so a damaged one is a located refusal, not a KeyError deep inside."""
    for key in required:
        if key not in document:
            return f"`{key}` is missing"
    for key, ok in checks.items():
        if key in document and not ok(document[key]):
            return f"`{key}` does not hold what it should ({str(document[key])[:60]!r})"
    return None


def write_json(path: Path, value) -> None:
    write_text(path, to_json(value, indent=2, sort_keys=False) + "\n")


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    write_atomic(path, lambda f: np.savez(f, **arrays))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read with allow_pickle=False: a weights file never runs code."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
