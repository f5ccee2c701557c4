"""The names a data file provides, read cheaply for `nnc check`: a CSV file's header, an
`.npz` archive's array names. Neither needs numpy, and nothing past the header is read."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path


def names_in_file(path: Path) -> list[str] | None:
    """Column or array names, or None when the file cannot be read as its suffix says (the
    data loader reports that with a located message when training starts)."""
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), None)
            return [name.strip() for name in header] if header else None
        if path.suffix.lower() == ".npz":
            with zipfile.ZipFile(path) as archive:
                return [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
    except (OSError, UnicodeDecodeError, csv.Error, zipfile.BadZipFile):
        return None
    return None
