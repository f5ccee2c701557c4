"""Keeps freed memory in the process for the next training step.

A training step allocates and frees the same large arrays (activations, im2col columns,
gradients) every time. With glibc's defaults, arrays above the mmap threshold are mapped and
unmapped per allocation, and a large free block at the top of the heap is handed back to the
system, so every step pays page faults on memory it just released: measured on the CNN
reference step (the CNN workload of bench/run.py), 40 ms per step instead of 24 ms. Raising both
thresholds keeps that memory mapped; peak memory is unchanged, it is just not returned between
steps. Other C libraries (and other systems) keep their own policy: nothing is changed there."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_MAX = 32 * 1024 * 1024  # the largest mmap threshold glibc accepts on 64-bit systems
_TRIM = 1 << 30


def retain_freed_memory() -> bool:
    """Raises glibc's trim and mmap thresholds; returns whether the C library took them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM))
