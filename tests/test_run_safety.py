"""Work is never lost: a run killed while writing its final files is completed by --resume,
--overwrite takes nothing away until the new run has started, one run holds a directory at a
time, and what a killed write left behind is cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from nnc.runtime.data import DataError
from nnc.runtime.errors import RunError
from nnc.runtime.train import Callback
from nnc.runtime.train.run_dir import RunDir, read_weights
from test_train import SPEC, same_weights, write_blobs

import nnc


class Killed(BaseException):
    """What a SIGKILL would do to the process at that point: nothing after it runs."""


@pytest.fixture
def spec(tmp_path):
    write_blobs(tmp_path)
    path = tmp_path / "blobs.nn"
    path.write_text(SPEC)
    return path


def files(run) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"}


def test_a_run_killed_while_writing_its_final_files_is_completed_by_resume(spec, tmp_path, monkeypatch):
    nnc.load(spec).fit(out=tmp_path / "whole")
    real = RunDir.write_weights

    def killed(self, *args, **kwargs):
        raise Killed

    monkeypatch.setattr(RunDir, "write_weights", killed)
    with pytest.raises(Killed):
        nnc.load(spec).fit(out=tmp_path / "cut")
    assert (
        not (tmp_path / "cut" / "weights.npz").exists() and not (tmp_path / "cut" / "summary.json").exists()
    )
    monkeypatch.setattr(RunDir, "write_weights", real)
    summary = nnc.load(spec).fit(resume=tmp_path / "cut").training_summary  # not "nothing to resume"
    assert summary["epochs_run"] == 6
    assert same_weights(read_weights(tmp_path / "cut"), read_weights(tmp_path / "whole"))


def test_overwrite_with_bad_data_keeps_the_old_run(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "keep")
    before = files(tmp_path / "keep")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError):
        nnc.load(spec).fit(tmp_path / "bad.csv", out=tmp_path / "keep", overwrite=True)
    assert files(tmp_path / "keep") == before


def test_overwrite_that_fails_before_its_first_checkpoint_puts_the_old_run_back(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "keep", epochs=2)
    before = files(tmp_path / "keep")

    class Fails(Callback):  # as a non-finite loss or a Ctrl-C in the first epoch would
        def on_batch_end(self, step, logs):
            if step == 3:
                raise RunError("E501", "the loss became nan")

    with pytest.raises(RunError):
        nnc.load(spec).fit(out=tmp_path / "keep", overwrite=True, callbacks=[Fails()])
    assert files(tmp_path / "keep") == before and not (tmp_path / "keep" / ".previous").exists()
    # Once the new run has checkpointed, it replaces the old one.
    nnc.load(spec).fit(out=tmp_path / "keep", overwrite=True, epochs=3)
    assert files(tmp_path / "keep") != before and not (tmp_path / "keep" / ".previous").exists()
    assert nnc.load(spec).fit(resume=tmp_path / "keep", epochs=3).training_summary["epochs_run"] == 3


def test_one_run_per_directory(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "run", epochs=1)
    with RunDir(tmp_path / "run").locked():  # as another `nnc train` holds it
        with pytest.raises(RunError) as e:
            nnc.load(spec).fit(out=tmp_path / "run", overwrite=True)
        assert e.value.code == "E515" and f"pid {os.getpid()}" in e.value.message
        with pytest.raises(RunError) as e:
            nnc.load(spec).fit(resume=tmp_path / "run", epochs=2)
        assert e.value.code == "E515"
    nnc.load(spec).fit(resume=tmp_path / "run", epochs=2)  # released: the run goes on


def test_the_lock_of_a_killed_run_is_released(spec, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from nnc.runtime.train.run_dir import RunDir\nimport time\n"
         f"with RunDir({str(tmp_path)!r}).locked():\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunError):
        with RunDir(tmp_path).locked():
            pass
    holder.kill()
    holder.wait()
    with RunDir(tmp_path).locked():  # no stale PID file: the OS released the lock
        pass


def test_what_a_killed_write_left_is_cleaned_up(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "run", epochs=1)
    stray = tmp_path / "run" / ".checkpoint.npz.x1y2z3.tmp"
    stray.write_bytes(np.zeros(1000).tobytes())
    nnc.load(spec).fit(resume=tmp_path / "run", epochs=2)
    assert not stray.exists()


def test_a_ctrl_c_while_the_final_files_are_written_waits_for_them(spec, tmp_path, monkeypatch):
    import signal

    real = RunDir.write_weights

    def interrupted(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, right between the checkpoint and weights
        real(self, *args, **kwargs)

    monkeypatch.setattr(RunDir, "write_weights", interrupted)
    summary = nnc.load(spec).fit(out=tmp_path / "run", epochs=2).training_summary
    assert summary["epochs_run"] == 2 and RunDir(tmp_path / "run").complete()


# Sends this process a Ctrl-C when it first imports the module named in argv[1], then runs
# the command line on the rest: a Ctrl-C at a chosen moment of start-up, every time.
CTRL_C_AT = """
import importlib.abc, os, signal, sys
where = sys.argv.pop(1)
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == where:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Finder())
from nnc.cli import run
run()
"""


@pytest.mark.parametrize(
    "module", ["click", "numpy", "lark", "nnc.runtime.data.csv_file", "nnc.runtime.train.loop"]
)
def test_ctrl_c_at_any_moment_of_start_up_is_one_line_and_130(spec, tmp_path, module):
    """While the command line, numpy, the parser, the data readers or the trainer load."""
    command = [sys.executable, "-c", CTRL_C_AT, module, "train", str(spec), "--out", str(tmp_path / "r")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().splitlines() == ["nnc: interrupted"]


def test_a_non_finite_gradient_names_its_layer(spec, tmp_path, monkeypatch):
    import dataclasses

    from nnc.runtime.ops import OPS

    # tanh's backward overflows; the loss stays finite, so only the gradient check sees it
    broken = dataclasses.replace(OPS["tanh"], backward=lambda ctx, dy, cache: (dy * np.inf,))
    monkeypatch.setitem(OPS, "tanh", broken)
    with pytest.raises(RunError) as e:
        nnc.load(spec).fit(out=tmp_path / "run")
    assert e.value.code == "E501" and e.value.layer == "dense_1"
    assert "a gradient became non-finite at epoch 1, step 1" in e.value.message
    assert "`dense_1.weight`" in e.value.message


def test_a_non_finite_validation_loss_stops_training(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x, t=x[:, :2])
    x[:3] = 3e38  # float32 values, whose squared errors overflow
    np.savez(tmp_path / "val.npz", x=x, t=x[:, :2])
    (tmp_path / "r.nn").write_text(
        "model r {\n    input x: float32[4]\n    dense(2) as y\n}\nloss mse(y, target=t)\n"
        'train { epochs = 3 }\ndata { train = "train.npz"; validation = "val.npz" }\n'
    )
    with pytest.raises(RunError) as e:
        nnc.load(tmp_path / "r.nn").fit(out=tmp_path / "run")
    assert e.value.code == "E501" and "the validation loss became inf after epoch 1" in e.value.message
    assert not (tmp_path / "run" / "metrics.csv").exists()  # the epoch is not logged with inf


def test_no_json_nnc_writes_holds_nan_or_infinity(tmp_path):
    import json

    from nnc.runtime.files import to_json, write_json

    value = {
        "best": float("inf"),
        "final": {"val_top_k": float("nan"), "loss": 0.5},
        "history": [float("-inf")],
    }
    assert json.loads(to_json(value)) == {
        "best": None,
        "final": {"val_top_k": None, "loss": 0.5},
        "history": [None],
    }
    write_json(tmp_path / "s.json", value)
    assert (
        "NaN" not in (tmp_path / "s.json").read_text() and "Infinity" not in (tmp_path / "s.json").read_text()
    )


def test_a_gradient_whose_norm_overflows_is_a_located_error_not_a_bug(tmp_path):
    """Every entry finite, their squares past float32: the reviewer's lr=50 run on curve.csv
    ended in `internal error: StopIteration`."""
    from conftest import ROOT

    spec = tmp_path / "nan.nn"
    spec.write_text(
        "model m {\n input x: float32[1]\n dense(16) -> relu\n dense(1) as y\n}\n"
        "loss mse(y, target=target)\noptimizer sgd(lr=0.5)\ntrain { epochs = 20; validation = 0.2 }\n"
        f'data {{ train = "{ROOT / "specs" / "data" / "curve.csv"}" }}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "nnc", "train", str(spec), "--out", str(tmp_path / "r"), "--lr", "50"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 5, done.stderr
    assert "internal error" not in done.stderr and "E501" in done.stderr
    assert "overflowed" in done.stderr or "non-finite" in done.stderr
