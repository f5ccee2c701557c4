"""Kill `nnc train` at random moments, resume it until it finishes, and check that nothing was
lost: every file of the run directory reads back at every stop, and the finished run's weights
are bit-identical to those of a run never interrupted.

    python bench/kill_resume.py [--count 100] [--seed 0]

Each of --count rounds starts a fresh run and interrupts it at random moments (uniformly over
the run's length), with SIGKILL or Ctrl-C (SIGINT) at random; one round in five also kills it in
the window between its last checkpoint and its final files. Checkpoints fall inside epochs (every
25 steps; an epoch has 40) and the run ends inside one (max_steps), so resuming inside an epoch is
what most rounds test. tests/test_kill.py runs a few rounds; the figures of the last long run are
in docs/reliability.md."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEC = """
model blobs {
    input x: float32[4]
    dense(32) -> tanh
    dropout(0.1)
    dense(3) -> softmax as probs
}
loss cross_entropy(probs, target=label)
optimizer adam(lr=0.01)
train { epochs = 40; batch_size = 8; validation = 0.2; metrics = [accuracy]; seed = 5
        max_steps = 1234; checkpoint_every = "25 steps"
        early_stopping(monitor=val_loss, patience=30, restore_best=true) }
data { train = "blobs.npz" }
"""

# Runs the command line, but dies by SIGKILL when the run starts writing its final files.
KILLED_WHILE_FINISHING = """
import os, signal, sys
from nnc.runtime.train.run_dir import RunDir
RunDir.write_weights = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
from nnc.cli import run
run()
"""


def project(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 3, 400)
    x = np.eye(4)[label] * 2 + 0.7 * rng.standard_normal((400, 4))
    np.savez(folder / "blobs.npz", x=x.astype(np.float32), label=label)
    (folder / "blobs.nn").write_text(SPEC)
    return folder / "blobs.nn"


def train(folder: Path, *args: str, script: str | None = None) -> subprocess.Popen:
    command = [
        sys.executable,
        "-c",
        script or "from nnc.cli import run; run()",
        "train",
        "blobs.nn",
        *args,
        "-q",
    ]
    return subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def readable(run: Path) -> list[str]:
    """The run's files that do not read back whole (none, if nothing was torn)."""
    bad = []
    for path in run.iterdir():
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as f:
                    [f[k] for k in f.files]
        except Exception:  # noqa: BLE001 - any failure to read back is what is counted
            bad.append(path.name)
    return bad


def weights(run: Path) -> dict:
    with np.load(run / "weights.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files if ":" not in k}


def rounds(count: int, seed: int, folder: Path) -> dict:
    """Runs `count` rounds; returns the tally: kills, interrupts, torn files, runs that did not
    finish bit-identical."""
    project(folder)
    started = time.perf_counter()
    done = train(folder, "--out", "whole")
    assert done.wait() == 0, done.stderr.read()
    length = time.perf_counter() - started
    reference = weights(folder / "whole")
    rng = np.random.default_rng(seed)
    tally = {"rounds": count, "kills": 0, "interrupts": 0, "torn files": 0, "different": 0}
    for k in range(count):
        run = f"cut{k}"
        args = ["--out", run]
        if k % 5 == 0:  # killed in the final-write window, then completed by --resume
            process = train(folder, *args, script=KILLED_WHILE_FINISHING)
            process.wait()
            tally["kills"] += 1
            args = ["--resume", run]
        for _ in range(3):
            process = train(folder, *args)
            time.sleep(rng.uniform(0, length))
            if process.poll() is None:
                kill = rng.random() < 0.5
                process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
                tally["kills" if kill else "interrupts"] += 1
            process.wait()
            if (folder / run).exists():
                tally["torn files"] += len(readable(folder / run))
            if (folder / run / "checkpoint.npz").exists():
                args = ["--resume", run]
        final = train(folder, *args)
        assert final.wait() == 0, final.stderr.read()
        tally["torn files"] += len(readable(folder / run))
        finished = weights(folder / run)
        same = finished.keys() == reference.keys() and all(
            np.array_equal(finished[n], reference[n]) for n in reference
        )
        tally["different"] += not same
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tally = rounds(args.count, args.seed, Path(tmp))
    print(", ".join(f"{k} {v}" for k, v in tally.items()))
    return 0 if tally["torn files"] == tally["different"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
