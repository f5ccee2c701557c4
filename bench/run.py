"""The benchmark suite: nnc's NumPy runtime against PyTorch CPU eager on the reference
workloads, side by side in one process, then inference, scaling, `nnc train` end to end and
start-up. Prints each table as it is measured and writes them all to bench/RESULTS.md.

Usage: python bench/run.py [--threads N] [--rounds 15] [--steps 10] [--workloads mlp,cnn]
                           [--sections training,inference] [--results FILE]
--threads 1 pins BLAS, torch and onnxruntime to one thread, where the targets apply (the
steadier figure on a shared machine); the default is every core. A run limited by --workloads
or --sections writes RESULTS.md only when --results names a file.

Needs torch (`pip install -e .[bench]`). Exit status: 2 without torch; 1 when gradients
disagree, outputs differ, or a target is missed (judged at one thread); 0 otherwise."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from side_by_side import pin_threads

SECTIONS = ("training", "inference", "scaling", "end-to-end", "startup")
WORKLOADS = ("mlp", "cnn", "lstm", "transformer")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="BLAS, torch and onnxruntime threads"
    )
    parser.add_argument("--rounds", type=int, default=15, help="alternating timing rounds (default 15)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per round (default 10)")
    parser.add_argument("--workloads", type=_names(WORKLOADS), default=(), help=", ".join(WORKLOADS))
    parser.add_argument("--sections", type=_names(SECTIONS), default=(), help=", ".join(SECTIONS))
    parser.add_argument("--results", type=Path, help=f"where to write the tables (default {RESULTS})")
    args = parser.parse_args()
    pin_threads(args.threads)  # before numpy loads
    try:
        import torch
    except ImportError:
        print(
            "torch is not installed: pip install -e .[bench] (or pip install torch==2.13.0)", file=sys.stderr
        )
        return 2
    torch.set_num_threads(args.threads)
    from end_to_end import startup, train_digits
    from inference import inference
    from nnc.runtime.memory import retain_freed_memory
    from report import machine, write
    from training import matmul_ceiling, scaling, training_steps

    retain_freed_memory()  # as `nnc train` does: a step reuses the memory the last one freed
    about = machine(args.threads)
    print("\n".join(about), "\n", flush=True)
    ceiling = matmul_ceiling()
    about.append(f"- float32 matmul ceiling ({1024}^3, numpy): {ceiling / 1e9:.1f} GFLOP/s")
    print(about[-1], "\n", flush=True)
    wanted = args.sections or SECTIONS
    runs = {
        "training": lambda: training_steps(torch, args, ceiling),
        "inference": lambda: inference(torch, args, ceiling),
        "scaling": lambda: scaling(torch, args),
        "end-to-end": lambda: train_digits(runs=3),
        "startup": lambda: startup(runs=7),
    }
    sections = []
    for name in SECTIONS:
        if name in wanted:
            sections.append(runs[name]())
            print(sections[-1].markdown(), flush=True)
    failures = [f for s in sections for f in s.failures]
    if args.results or not (args.sections or args.workloads):
        path = args.results or RESULTS
        write(path, "python bench/run.py " + " ".join(sys.argv[1:]), about, sections)
        print(f"wrote {path}")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
