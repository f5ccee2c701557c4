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
    summary = nnc.load(spec).fit(resume=tmp_path / "cut")  # not "nothing to resume"
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
        def on_step_end(self, trainer, step, logs):
            if step == 3:
                raise RunError("E501", "the loss became nan")

    with pytest.raises(RunError):
        nnc.load(spec).fit(out=tmp_path / "keep", overwrite=True, callbacks=[Fails()])
    assert files(tmp_path / "keep") == before and not (tmp_path / "keep" / ".previous").exists()
    # Once the new run has checkpointed, it replaces the old one.
    nnc.load(spec).fit(out=tmp_path / "keep", overwrite=True, epochs=3)
    assert files(tmp_path / "keep") != before and not (tmp_path / "keep" / ".previous").exists()
    assert nnc.load(spec).fit(resume=tmp_path / "keep", epochs=3)["epochs_run"] == 3


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
    summary = nnc.load(spec).fit(out=tmp_path / "run", epochs=2)
    assert summary["epochs_run"] == 2 and RunDir(tmp_path / "run").complete()
