"""Elementwise work on every core. BLAS spreads the matmuls over the cores; NumPy runs
everything else (activations, normalization, pooling, the optimizer's update) on one. A kernel
that works row by row can hand its rows to `split`, which cuts them into pieces and runs the
pieces on a small pool of threads: NumPy releases the GIL inside each call, so they run at once.

`work` must treat each row on its own (a kernel that sums over rows does not split them), so
the result is the same bits however the rows are cut, with one thread or many. Threads take
pieces as they free up, the caller too, rather than one share each: on a busy machine a thread
that lost its core finishes fewer pieces instead of holding up the rest. And a waiting thread
sleeps; it never spins.

The thread count is the one BLAS is given (OMP_NUM_THREADS or OPENBLAS_NUM_THREADS), else the
cores this process may run on."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

# Elements in one piece: large enough that a piece's work (tens of microseconds) outweighs
# handing it to a thread, small enough that a piece's arrays stay in the core's cache.
PIECE = 1 << 17

_pool: ThreadPoolExecutor | None = None


def count() -> int:
    """How many threads the runtime uses, the caller's included."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def split(rows: int, row_size: int, work: Callable[[int, int], None]) -> None:
    """Runs work(start, stop) over every row of [0, rows), piece by piece, on all threads.
    `row_size` is the elements one row touches, which sets how many rows a piece holds. A
    job of one piece runs here, in one call."""
    per_piece = max(1, PIECE // max(1, row_size))
    pieces = -(-rows // per_piece)
    threads = min(count(), pieces)
    if threads <= 1:
        work(0, rows)
        return
    numbers = itertools.count()  # next() on it is atomic under the GIL: each piece runs once
    lock, finished, errors = threading.Lock(), threading.Event(), []
    done = 0

    def take() -> None:
        nonlocal done
        while (i := next(numbers)) < pieces:
            try:
                work(i * per_piece, min(rows, (i + 1) * per_piece))
            except BaseException as e:  # noqa: BLE001 - raised again in the caller, below
                errors.append(e)
            with lock:
                done += 1
                if done == pieces:
                    finished.set()

    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(1, count() - 1), thread_name_prefix="nnc")
    for _ in range(threads - 1):
        _pool.submit(take)
    take()
    # Wait for the pieces, not for the helpers: one still waiting for a core (the machine is
    # busy) finds nothing left when it starts, and nobody waited for it.
    finished.wait()
    if errors:
        raise errors[0]
