"""The command line as a user meets it: `nnc train` on the digits example from start to
finish (wall time, epochs per second, peak memory), and the start-up of `nnc --help` and
`nnc check` (bench/startup.py's measurements)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import Section
from startup import HEAVY, deep_mlp, imported_modules, timed

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "specs" / "mlp_digits.nn"
NNC = [sys.executable, "-m", "nnc"]


# Runs `python -m nnc ARGS` and, at exit, reports the process's peak resident memory. The child
# reads it itself (VmHWM): the kernel's rusage maximum would include the benchmark's own memory,
# torch and all, which a forked child holds until it execs.
_WITH_PEAK = """
import atexit, runpy, sys
def report():
    peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")]
    sys.stderr.write("peak " + (peak[0].split()[1] if peak else "0") + "\\n")
atexit.register(report)
sys.argv = ["nnc", *sys.argv[1:]]
runpy.run_module("nnc", run_name="__main__", alter_sys=True)
"""


def _run(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (bytes) of `nnc ARGS`, which must succeed."""
    begin = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _WITH_PEAK, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - begin
    if result.returncode != 0:
        raise RuntimeError(f"nnc {' '.join(args)} failed: {result.stderr}")
    kib = int(result.stderr.rsplit("peak ", 1)[1].split()[0])
    return seconds, kib * 1024


def train_digits(runs: int) -> Section:
    section = Section(
        "End to end: `nnc train specs/mlp_digits.nn`",
        ["runs", "wall s (median)", "epochs", "epochs/s", "training steps/s", "peak memory MiB"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        walls, peaks = [], []
        for _ in range(runs):
            seconds, peak = _run(["train", str(DIGITS), "--out", tmp, "--overwrite", "--quiet"])
            walls.append(seconds)
            peaks.append(peak)
        summary = json.loads((Path(tmp) / "summary.json").read_text())
    wall = statistics.median(walls)
    section.row(
        runs, f"{wall:.2f}", summary["epochs_run"], f"{summary['epochs_run'] / wall:.1f}",
        f"{summary['steps'] / wall:.0f}", f"{max(peaks) / 2**20:.0f}",
    )  # fmt: skip
    section.note(
        "The whole process: start-up, reading and standardizing the CSV, training with validation "
        "and early stopping, writing the run directory. Peak memory is the process's maximum "
        "resident set size."
    )
    return section


def startup(runs: int) -> Section:
    section = Section("Start-up", ["command", "median s", "min s", "target"])
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "deep.nn"
        spec.write_text(deep_mlp(500), encoding="utf-8")
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("nnc --help", [*NNC, "--help"], 0.3),
            ("nnc check (a 500-layer spec)", [*NNC, "check", str(spec)], 1.0),
        ]
        for name, cmd, target in cases:
            times = timed(cmd, runs)
            median, verdict = statistics.median(times), ""
            if target is not None:
                verdict = " PASS" if median < target else " FAIL"
                if median >= target:
                    section.fail(f"{name}: {median:.3f} s (>= {target} s)")
            section.row(
                name, f"{median:.3f}{verdict}", f"{min(times):.3f}", f"< {target} s" if target else ""
            )
    heavy = sorted(m for m in imported_modules([*NNC, "--help"]) if m.split(".")[0] in HEAVY)
    if heavy:
        section.fail(f"nnc --help imports {', '.join(heavy)}")
    section.note(
        f"Median of {runs} fresh processes each. `nnc --help` imports "
        f"{', '.join(heavy) if heavy else 'none'} of {', '.join(HEAVY)}."
    )
    return section
