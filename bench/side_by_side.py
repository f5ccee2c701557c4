"""Running nnc and PyTorch side by side in one process: thread pinning, the float64 gradient
check that runs before any timing, and the alternating timing rounds."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

TOLERANCE = 1e-5  # the gradients' worst relative disagreement allowed before timing
# Seconds to wait before each round: the runtime timed before leaves its worker threads
# spinning for a while after its last parallel region (OpenMP's and OpenBLAS's wait policies),
# and on a machine with few cores those spinning threads would slow down whatever runs next.
SETTLE = 0.25


def pin_threads(threads: int) -> None:
    """Sets BLAS's thread count; it is read once, when numpy loads, so call this first."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def gradient_difference(model, feeds: dict, expected: dict) -> float:
    """Runs one float64 step of `model` on `feeds` and compares its parameter gradients with
    `expected` (torch's, in nnc's layouts): the worst, over parameters, of the max abs
    difference over the max abs value. A gradient that is zero in exact arithmetic (attention's
    key bias: softmax ignores a constant added to a row of scores) is all rounding noise in
    both, so the denominator is never below a millionth of the model's largest gradient."""
    import numpy as np
    from nnc.runtime.executor import Plan

    plan = Plan(model.program.graph, model.program.train.losses)
    weights = model.plan.params.to_dict()
    # A second plan, its parameter and gradient views swapped for float64 arrays: the kernels
    # keep the dtype they are given, so this runs the same code in float64.
    plan.params.values.update({key: value.astype(np.float64) for key, value in weights.items()})
    plan.params.grads.update({key: np.zeros(value.shape) for key, value in weights.items()})
    plan.gradients(feeds, np.random.default_rng(0))
    floor = 1e-6 * max(float(np.abs(want).max()) for want in expected.values())
    return max(
        float(np.abs(plan.params.grads[key] - want).max() / max(float(np.abs(want).max()), floor))
        for key, want in expected.items()
    )


def alternate(steps: dict[str, Callable[[], object]], rounds: int, per_round: int) -> dict[str, float]:
    """The median seconds per call of each step, timed in alternating rounds of `per_round`
    calls (a, b, a, b, ...) so that drifts in machine load hit all of them, after a warm-up."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up: allocations, lazy initialization
        for _ in range(3):
            step()
    for _ in range(rounds):
        for name, step in steps.items():
            time.sleep(SETTLE)
            for _ in range(per_round):
                begin = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - begin)
    return {name: statistics.median(t) for name, t in times.items()}
