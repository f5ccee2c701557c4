"""The command line as a user meets it: `nnc train` from start to finish against the same job
as a PyTorch script (bench/torch_train.py), on the digits MLP and a 150-row tabular run (wall
time, nnc's peak memory), and the start-up of `nnc --help` and `nnc check` (bench/startup.py's
measurements)."""

from __future__ import annotations

import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from startup import HEAVY, deep_mlp, imported_modules, timed
from tables import Section

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "specs" / "mlp_digits.nn"
NNC = [sys.executable, "-m", "nnc"]
TORCH_SCRIPT = Path(__file__).resolve().parent / "torch_train.py"


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


E2E_TARGET = 0.8  # nnc train / the PyTorch script, wall time, fresh processes


@dataclass(frozen=True)
class Case:
    name: str
    spec: Path  # the nnc spec, its data beside it
    torch: str  # bench/torch_train.py's name for the same job
    train_csv: Path


def _cases(tmp: Path) -> list[Case]:
    """The digits MLP as it ships, and a 150-row tabular run: the penguins spec on 150 rows of
    its training file (a fixed sample, every species present), written to `tmp`."""
    penguins = ROOT / "specs" / "penguins.nn"
    lines = (ROOT / "specs" / "data" / "penguins_train.csv").read_text().splitlines()
    picked = sorted(random.Random(0).sample(range(1, len(lines)), 150))
    data = tmp / "data"
    data.mkdir()
    (data / "penguins_train.csv").write_text("\n".join([lines[0], *(lines[i] for i in picked)]) + "\n")
    shutil.copy(ROOT / "specs" / "data" / "penguins_test.csv", data / "penguins_test.csv")
    shutil.copy(penguins, tmp / "penguins150.nn")
    return [
        Case(
            "digits MLP (specs/mlp_digits.nn)", DIGITS, "digits", ROOT / "specs" / "data" / "digits_train.csv"
        ),
        Case(
            "150-row tabular (specs/penguins.nn)",
            tmp / "penguins150.nn",
            "penguins",
            data / "penguins_train.csv",
        ),
    ]


def _torch_run(case: Case, out: Path, epochs: int) -> float:
    begin = time.perf_counter()
    command = [sys.executable, str(TORCH_SCRIPT), case.torch, str(case.train_csv), str(out), str(epochs)]
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - begin
    if result.returncode != 0:
        raise RuntimeError(f"{TORCH_SCRIPT.name} {case.torch} failed: {result.stderr}")
    return seconds


def end_to_end(runs: int) -> Section:
    """`nnc train` against the same job as a PyTorch script, each a fresh process from start to
    weights on disk, in alternating runs; PyTorch runs the epochs nnc ran (early stopping falls
    where each runtime's random numbers put it)."""
    section = Section(
        "End to end: `nnc train` against the same PyTorch script",
        ["job", "epochs", "nnc s", "PyTorch s", "nnc / PyTorch", "target", "nnc peak MiB", "nnc steps/s"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        for case in _cases(Path(tmp)):
            nnc_out, torch_out = Path(tmp) / "nnc-run", Path(tmp) / "torch-run"
            command = ["train", str(case.spec), "--out", str(nnc_out), "--overwrite", "--quiet"]
            _run(command)  # warm-up: bytecode and parser caches, as any second run has them
            summary = json.loads((nnc_out / "summary.json").read_text())
            epochs = summary["epochs_run"]
            _torch_run(case, torch_out, epochs)
            nnc_walls, torch_walls, peaks = [], [], []
            for _ in range(runs):
                seconds, peak = _run(command)
                nnc_walls.append(seconds)
                peaks.append(peak)
                torch_walls.append(_torch_run(case, torch_out, epochs))
            nnc_wall, torch_wall = statistics.median(nnc_walls), statistics.median(torch_walls)
            ratio = nnc_wall / torch_wall
            if ratio > E2E_TARGET:
                section.fail(f"end to end, {case.name}: nnc / PyTorch {ratio:.2f} > {E2E_TARGET}")
            section.row(
                case.name, epochs, f"{nnc_wall:.2f}", f"{torch_wall:.2f}",
                f"{ratio:.2f} {'PASS' if ratio <= E2E_TARGET else 'FAIL'}", f"<= {E2E_TARGET}",
                f"{max(peaks) / 2**20:.0f}", f"{summary['steps'] / nnc_wall:.0f}",
            )  # fmt: skip
    section.note(
        f"Median of {runs} alternating fresh processes each, after one warm-up run of each. nnc: "
        "start-up, reading and preprocessing the CSV, training with validation and early "
        "stopping, writing the run directory. PyTorch: `bench/torch_train.py`, the same job as "
        "a PyTorch user writes it (numpy and csv for reading), run for the epochs nnc ran. Peak "
        "memory is nnc's maximum resident set size."
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
