"""Throughput of `nnc predict` over a large generated dataset: one process on one file, one
process over the shards (`--data 'shards/*'`), and `--engine ray` over the same shards on a
local Ray cluster, counted from the command's start (the cluster's start-up included) and on a
cluster already running (`--address`). Each is timed `--rounds` times, in turn; the medians go
in docs/scale.md. The model is the digits MLP (specs/mlp_digits.nn, 64 inputs, 10 classes),
trained briefly: its speed, not its accuracy, is measured.

    .venv/bin/pip install -e '.[ray]'
    .venv/bin/python bench/scale.py --rows 4000000 --shards 16 --rounds 3"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = export_model(folder)
        generate(folder, args.rows, args.shards)
        context = ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR")
        address = context.address_info["gcs_address"]
        shards = ["--data", "shards/*.parquet"]
        ways = {
            "one process, one file": ["--data", "all.parquet", "-o", "all.csv"],
            "one process, the shards": [*shards, "-o", "local"],
            "--engine ray, cluster start included": [*shards, "-o", "fresh", "--engine", "ray"],
            "--engine ray, cluster running": [
                *shards,
                "-o",
                "running",
                "--engine",
                "ray",
                "--address",
                address,
            ],
        }
        seconds = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, command in ways.items():
                seconds[name].append(timed(folder, model, command, args.workers))
        ray.shutdown()
    print(
        f"{args.rows:,} rows in {args.shards} Parquet shards, {os.cpu_count()} cores, {args.rounds} rounds\n"
    )
    print("| how | median seconds | samples/s | runs (s) |\n|---|---|---|---|")
    for name, runs in seconds.items():
        median = statistics.median(runs)
        shown = ", ".join(f"{s:.1f}" for s in runs)
        print(f"| {name} | {median:.1f} | {args.rows / median:,.0f} | {shown} |")


def export_model(folder: Path) -> Path:
    import nnc

    model = nnc.load(ROOT / "specs/mlp_digits.nn", ("train.epochs=2",))
    model.fit(out=folder / "run", verbose=0)
    return model.export(folder / "digits.onnx")


def generate(folder: Path, rows: int, shards: int) -> None:
    """Pixels 0..16 as the digits have them, in the training data's columns, as `shards`
    Parquet files and as one file of them all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"pixel_{i}" for i in range(64)]
    (folder / "shards").mkdir()
    parts = []
    for i, n in enumerate(np.diff(np.linspace(0, rows, shards + 1).astype(int))):
        x = rng.integers(0, 17, size=(n, 64)).astype(np.float32)
        table = pa.table({c: x[:, j] for j, c in enumerate(names)})
        pq.write_table(table, folder / "shards" / f"part-{i:03d}.parquet")
        parts.append(table)
    pq.write_table(pa.concat_tables(parts), folder / "all.parquet")


def timed(folder: Path, model: Path, command: list[str], workers: int) -> float:
    start = time.perf_counter()
    threads = ["--workers", str(workers)] if "ray" in command else []
    subprocess.run(
        [sys.executable, "-m", "nnc", "predict", str(model), *command, *threads],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
