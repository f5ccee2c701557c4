"""A busy machine: every workload's training step with one core taken by another CPU-bound
process, against the same step on the idle machine, for nnc and for torch eager. Shared
machines and CI runners are busy machines; a runtime whose worker threads wait on a
descheduled peer (or spin while it runs) slows down far more than the core it lost."""

from __future__ import annotations

import contextlib
import subprocess
import sys

from tables import Section
from workers import Worker, alternate
from workloads import chosen

RISE = 2.0  # nnc's step time, busy over idle, at most
LIMIT_S = 600  # the busy process ends itself after this, whatever happens to the benchmark


@contextlib.contextmanager
def one_core_busy():
    """A process spinning on one core while the block runs: started here, stopped on the way
    out, and bounded in time on its own should this process die without stopping it."""
    spin = f"import time\nend = time.monotonic() + {LIMIT_S}\nwhile time.monotonic() < end:\n    pass\n"
    process = subprocess.Popen([sys.executable, "-c", spin])
    try:
        yield
    finally:
        process.kill()
        process.wait()


def busy_machine(args) -> Section:
    section = Section(
        f"A busy machine: one core taken by another process ({args.threads} threads)",
        ["workload", "nnc idle ms", "nnc busy ms", "nnc busy / idle", "torch idle ms", "torch busy ms",
         "torch busy / idle", "nnc / torch, busy", "target"],
    )  # fmt: skip
    for workload in chosen(args.workloads):
        both = {runtime: Worker(runtime, workload, args.threads) for runtime in ("nnc", "torch")}
        try:
            idle = alternate(both, args.rounds, args.steps)
            with one_core_busy():
                busy = alternate(both, args.rounds, args.steps)
        finally:
            for worker in both.values():
                worker.close()
        rise = busy["nnc"] / idle["nnc"]
        ahead = busy["nnc"] / busy["torch"]
        missed = []
        if rise > RISE:
            missed.append(f"{workload.name}: busy / idle {rise:.2f} > {RISE}")
        if ahead >= 1:
            missed.append(f"{workload.name}: nnc / torch on the busy machine {ahead:.2f} >= 1")
        for why in missed:
            section.fail(f"busy machine, {why}")
        section.row(
            workload.name, f"{idle['nnc'] * 1e3:.2f}", f"{busy['nnc'] * 1e3:.2f}", f"{rise:.2f}",
            f"{idle['torch'] * 1e3:.2f}", f"{busy['torch'] * 1e3:.2f}",
            f"{busy['torch'] / idle['torch']:.2f}", f"{ahead:.2f} {'FAIL' if missed else 'PASS'}",
            f"busy / idle <= {RISE}, nnc / torch < 1",
        )  # fmt: skip
    section.note(
        f"Median of {args.rounds} alternating rounds of {args.steps} steps, idle and then with a "
        "CPU-bound Python process (a spinning loop, started and stopped by the benchmark) taking "
        "one core; both runtimes at the default thread count, every core."
    )
    return section
