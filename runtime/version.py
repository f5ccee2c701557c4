"""The installed nnc's version, read from the package metadata that pyproject.toml writes: one
source of truth, and no import of the API package from below it."""

from __future__ import annotations

import functools


@functools.cache
def nnc_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nnc")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
