"""Memory in proportion to the data, read from the kernel (ru_maxrss of a process of its own).

Training: the peak memory of `nnc train --epochs 1` on a CSV of --mb megabytes (64 float
features and a class label per row), against the file's size. Target: under 3 times the file.

Predict: `nnc predict` streams, so its peak follows the batch, not the file. The model trained
above is exported and `nnc predict -o out.csv` runs on a CSV of --mb / 4 megabytes and on one
of --mb megabytes. Target: the larger file adds under 5% of its extra size to the peak.

    python bench/csv_memory.py [--mb 200]
"""

from __future__ import annotations

import argparse
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


def peak_of(command: list[str], folder: Path) -> int | None:
    """The peak resident bytes of `command` run in a child that runs nothing else (ru_maxrss
    of RUSAGE_CHILDREN is the largest child so far: a fresh child per measure keeps them apart)."""
    probe = [sys.executable, "-c", PROBE, *command]
    done = subprocess.run(probe, cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return None
    return int(done.stdout.split()[-1])


PROBE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode != 0:
    sys.exit(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200)
    args = parser.parse_args()
    nnc = [sys.executable, "-m", "nnc"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        size = write_csv(folder / "big.csv", args.mb)
        small = write_csv(folder / "small.csv", args.mb / 4)
        (folder / "wide.nn").write_text(SPEC)
        peak = peak_of([*nnc, "train", "wide.nn", "--out", "run", "--quiet"], folder)
        if peak is None:
            return 1
        print(f"CSV {size / 1e6:.0f} MB, nnc train peak {peak / 1e6:.0f} MB: {peak / size:.2f}x the file")
        if subprocess.run(
            [*nnc, "export", "wide.nn", "--weights", "run", "-o", "wide.onnx"], cwd=folder
        ).returncode:
            return 1
        peaks = {}
        for name, n in (("small.csv", small), ("big.csv", size)):
            peaks[n] = peak_of([*nnc, "predict", "wide.onnx", "--data", name, "-o", "out.csv"], folder)
            if peaks[n] is None:
                return 1
            print(f"CSV {n / 1e6:.0f} MB, nnc predict peak {peaks[n] / 1e6:.0f} MB")
        grown = (peaks[size] - peaks[small]) / (size - small)
        print(f"predict: the peak grew by {grown:.1%} of the extra {(size - small) / 1e6:.0f} MB of file")
    return 0 if peak < 3 * size and grown < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
