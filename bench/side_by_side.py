"""What the benchmarks against PyTorch share (cnn_step.py, lstm_step.py): the command line and
thread pinning, the float64 gradient check that runs before any timing, and the alternating
timing rounds with their report. Each benchmark keeps only its workload: the spec, the torch
module with nnc's weights copied in, and one training step of each."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

TOLERANCE = 1e-5  # the gradients' worst relative disagreement allowed before timing


def start(description: str):
    """(args, numpy, torch) from the command line, BLAS and torch pinned to --threads; None
    when torch is missing (the benchmark then exits 2)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS and torch threads")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round")
    args = parser.parse_args()
    # BLAS reads its thread count once, at import: set it before numpy loads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy

    try:
        import torch
    except ImportError:
        print("torch is not installed: pip install torch==2.13.0 (the CPU build)", file=sys.stderr)
        return None
    torch.set_num_threads(args.threads)
    return args, numpy, torch


def gradients_agree(model, feeds: dict, expected: dict) -> bool:
    """Runs one float64 step of `model` on `feeds` and compares its parameter gradients with
    `expected` (torch's, in nnc's layouts): max abs difference over max abs value, per parameter."""
    import numpy as np
    from nnc.runtime.executor import Plan

    plan = Plan(model.program.graph, model.program.train.losses)
    weights = model.plan.params.to_dict()
    # A second plan, its parameter and gradient views swapped for float64 arrays: the kernels
    # keep the dtype they are given, so this runs the same code in float64.
    plan.params.values.update({key: value.astype(np.float64) for key, value in weights.items()})
    plan.params.grads.update({key: np.zeros(value.shape) for key, value in weights.items()})
    plan.gradients(feeds, np.random.default_rng(0))
    worst = max(
        float(np.abs(plan.params.grads[key] - want).max() / np.abs(want).max())
        for key, want in expected.items()
    )
    print(f"gradients, float64, nnc vs torch: max relative difference {worst:.1e} (must be <= 1e-5)")
    return worst <= TOLERANCE


def compare(title: str, batch: int, args, nnc_step, torch_step, target: float) -> int:
    """Times the two steps in alternating rounds, prints the medians, samples/s and the ratio;
    the exit status: 0 when nnc / torch is at most `target`, else 1."""
    steps = {"nnc": nnc_step, "torch": torch_step}
    times = {name: [] for name in steps}
    for step in steps.values():  # warm-up: allocations, lazy inits
        for _ in range(3):
            step()
    for _ in range(args.rounds):
        for name, step in steps.items():
            for _ in range(args.steps):
                begin = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - begin)
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    ratio = ms["nnc"] / ms["torch"]
    print(f"{title}, batch {batch}, {args.threads} thread(s), {args.rounds} rounds x {args.steps} steps")
    print("| runtime | ms/step (median) | samples/s |")
    print("|---|---|---|")
    for name, value in ms.items():
        print(f"| {name} | {value:.2f} | {batch / value * 1e3:.0f} |")
    print(f"ratio nnc / torch: {ratio:.2f} (target <= {target:.2f})")
    return 0 if ratio <= target else 1
