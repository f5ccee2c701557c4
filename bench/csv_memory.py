"""Memory in proportion to the data: the peak memory of `nnc train` on a large CSV, against the
file's size. A CSV of --mb megabytes (64 float features and a class label per row) is written,
and `nnc train --epochs 1` runs on it in a process of its own, whose peak resident memory is read
from the kernel (ru_maxrss). The target is a peak under 3 times the file.

    python bench/csv_memory.py [--mb 200]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SPEC = """
model wide {
    input x: float32[64]
    dense(32) -> relu
    dense(10) -> softmax as p
}
loss cross_entropy(p, target=label)
train { epochs = 1; batch_size = 256 }
data { train = "big.csv" }
"""


def write_csv(path: Path, megabytes: float) -> int:
    rng = np.random.default_rng(0)
    rows = int(megabytes * 1e6 / 520)  # about 520 bytes a row
    with path.open("w") as f:
        f.write(",".join([*(f"p{i}" for i in range(64)), "label"]) + "\n")
        for start in range(0, rows, 10_000):
            n = min(10_000, rows - start)
            x = rng.standard_normal((n, 64)) * 100
            label = rng.integers(0, 10, n)
            lines = (",".join(f"{v:.5f}" for v in x[i]) + f",{label[i]}" for i in range(n))
            f.write("\n".join(lines) + "\n")
    return path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        size = write_csv(folder / "big.csv", args.mb)
        (folder / "wide.nn").write_text(SPEC)
        command = [sys.executable, "-m", "nnc", "train", "wide.nn", "--out", "run", "--quiet"]
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(f"CSV {size / 1e6:.0f} MB, nnc train peak {peak / 1e6:.0f} MB: {peak / size:.2f}x the file")
    return 0 if peak < 3 * size else 1


if __name__ == "__main__":
    sys.exit(main())
