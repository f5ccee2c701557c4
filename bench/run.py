"""The benchmark suite: nnc's NumPy runtime against PyTorch (eager, with a fused optimizer,
torch.compile) and JAX (jit) on the reference workloads, at one thread and at every core, then
a busy machine, inference, scaling, `nnc train` end to end against a PyTorch script, and
start-up. Prints each table as it is measured and writes them all to bench/RESULTS.md.

Usage: python bench/run.py [--threads 1,2] [--rounds 15] [--steps 10] [--workloads mlp,cnn]
                           [--sections training,busy] [--results FILE]
Each thread setting runs in a process of its own (BLAS and XLA read their thread counts when
they load); the default is one thread and every core. A run limited by --workloads, --sections
or --threads writes RESULTS.md only when --results names a file.

Needs torch (`pip install -e .[bench]`; JAX too for its column). Exit status: 2 without torch;
1 when gradients disagree, outputs differ, or a target is missed; 0 otherwise."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from side_by_side import pin_threads
from tables import Section

# Measured once per thread setting, in a child process; the rest once, by this process.
PER_THREADS = ("training", "busy", "inference", "scaling")
ONCE = ("end-to-end", "startup")
SECTIONS = PER_THREADS + ONCE
WORKLOADS = ("mlp", "cnn", "lstm", "transformer")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _names(allowed):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}"
            )
        return names

    return parse


def _thread_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"thread counts are whole numbers: {text}") from None
    if any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"thread counts are at least 1: {text}")
    return counts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads",
        type=_thread_counts,
        default=tuple(sorted({1, CORES})),
        help=f"thread settings, each a process of its own (default 1,{CORES}: one and every core)",
    )
    parser.add_argument("--rounds", type=int, default=15, help="alternating timing rounds (default 15)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per round (default 10)")
    parser.add_argument("--workloads", type=_names(WORKLOADS), default=(), help=", ".join(WORKLOADS))
    parser.add_argument("--sections", type=_names(SECTIONS), default=(), help=", ".join(SECTIONS))
    parser.add_argument("--results", type=Path, help=f"where to write the tables (default {RESULTS})")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # where a child writes its sections
    return parser


def main() -> int:
    args = _parser().parse_args()
    if args.child:
        return _child(args)
    wanted = args.sections or SECTIONS
    about, sections = [], []
    for threads in args.threads:
        if not any(name in wanted for name in PER_THREADS):
            break
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "sections.json"
            command = [
                sys.executable,
                __file__,
                *sys.argv[1:],
                "--threads",
                str(threads),
                "--child",
                str(out),
            ]
            code = subprocess.run(command).returncode
            if code == 2:
                return 2  # torch is missing: the child said so
            if not out.exists():
                print(f"the {threads}-thread run failed (exit {code})", file=sys.stderr)
                return 1
            result = json.loads(out.read_text())
        about = about or result["about"]
        about += result["ceiling"]
        sections += [Section(**s) for s in result["sections"]]
    from end_to_end import end_to_end, startup

    once = {"end-to-end": lambda: end_to_end(runs=5), "startup": lambda: startup(runs=7)}
    for name in ONCE:
        if name in wanted:
            sections.append(once[name]())
            print(sections[-1].markdown(), flush=True)
    failures = [f for s in sections for f in s.failures]
    limited = args.sections or args.workloads or "--threads" in sys.argv
    if args.results or not limited:
        from tables import write

        path = args.results or RESULTS
        write(path, "python bench/run.py " + " ".join(sys.argv[1:]), about, sections)
        print(f"wrote {path}")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


def _child(args) -> int:
    """One thread setting's sections, written as JSON to args.child."""
    (threads,) = args.threads
    pin_threads(threads)  # before numpy, torch or jax loads
    try:
        import torch
    except ImportError:
        print(
            "torch is not installed: pip install -e .[bench] (or pip install torch==2.13.0)", file=sys.stderr
        )
        return 2
    torch.set_num_threads(threads)
    from busy import busy_machine
    from inference import inference
    from nnc.runtime.memory import retain_freed_memory
    from tables import machine
    from training import matmul_ceiling, scaling, training_steps

    retain_freed_memory()  # as `nnc train` does: a step reuses the memory the last one freed
    args.threads = threads
    about = machine()
    ceiling = matmul_ceiling()
    ceiling_line = (
        f"- float32 matmul ceiling ({threads} thread(s), 1024^3, numpy): {ceiling / 1e9:.1f} GFLOP/s"
    )
    print("\n".join(about), ceiling_line, "", sep="\n", flush=True)
    runs = {
        "training": lambda: training_steps(torch, args, ceiling),
        # a core taken away matters where the runtime uses every core: its default
        "busy": lambda: busy_machine(args) if threads == CORES and CORES > 1 else None,
        "inference": lambda: inference(torch, args, ceiling),
        "scaling": lambda: scaling(torch, args) if threads == 1 else None,
    }
    sections = []
    for name in PER_THREADS:
        if name in (args.sections or SECTIONS):
            made = runs[name]()
            for section in made if isinstance(made, list) else [made] if made else []:
                sections.append(section)
                print(section.markdown(), flush=True)
    result = {"about": about, "ceiling": [ceiling_line], "sections": [asdict(s) for s in sections]}
    args.child.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
