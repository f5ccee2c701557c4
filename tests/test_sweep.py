"""`nnc sweep`: the points and their names and seeds, the checks before any training, the local
engine (reproducible, resumable, a failing trial recorded), exporting the best trial, and the
Ray engine on a local Ray cluster (the same leaderboard as the local engine; ASHA stopping a
clearly poor trial). Sweeps run as a user runs them: the console script in a subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import TIMEOUT, ok, run_nnc

from nnc.sweep.points import parse_axis, trial_seed, trials

SPEC = """\
const hidden = 8
model blobs {
    input x: float32[4]
    dense(hidden) -> relu
    dense(3) -> softmax as probs
}
loss cross_entropy(probs, target=label)
optimizer adam(lr=0.01)
train {
    epochs = 4
    batch_size = 16
    validation = 0.25
    metrics = [accuracy]
    seed = 3
}
data { train = "data.csv" }
"""
GRID = ("--grid", "hidden=4,8", "--grid", "optimizer.lr=1e-3,0.03")
NAMES = ["0000-hidden=4,lr=1e-3", "0001-hidden=4,lr=0.03", "0002-hidden=8,lr=1e-3", "0003-hidden=8,lr=0.03"]


def project(folder: Path) -> Path:
    """The spec and 60 rows of a 3-class problem in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.nn").write_text(SPEC)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    lines = ["a,b,c,d,label"] + [",".join(f"{v:.4f}" for v in r) + f",{c}" for r, c in zip(x, y, strict=True)]
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    return folder


def leaderboard(folder: Path, out="runs/spec-sweep") -> list[dict]:
    with open(folder / out / "leaderboard.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The 4-trial grid swept once, uninterrupted, by the local engine."""
    folder = project(tmp_path_factory.mktemp("reference"))
    ok(run_nnc(folder, "sweep", "spec.nn", *GRID, "--workers", "2"))
    return folder


# ---- points -------------------------------------------------------------------------
def test_grid_is_the_product_in_order_with_readable_names_and_derived_seeds():
    axes = [parse_axis("hidden=64,128,256"), parse_axis("optimizer.lr=1e-3, 3e-3")]
    got = trials(axes, None, 7)
    assert [t.name for t in got] == [
        "0000-hidden=64,lr=1e-3",
        "0001-hidden=64,lr=3e-3",
        "0002-hidden=128,lr=1e-3",
        "0003-hidden=128,lr=3e-3",
        "0004-hidden=256,lr=1e-3",
        "0005-hidden=256,lr=3e-3",
    ]
    assert got[3].overrides(("train.epochs=2",)) == (
        "train.epochs=2",
        "hidden=128",
        "optimizer.lr=3e-3",
        f"train.seed={trial_seed(7, 3)}",
    )
    seeds = [t.seed for t in got]
    assert len(set(seeds)) == 6 and seeds == [t.seed for t in trials(axes, None, 7)]
    assert seeds != [t.seed for t in trials(axes, None, 8)]
    # a swept train.seed is the trial's seed: none is derived
    assert [t.overrides(()) for t in trials([parse_axis("train.seed=1,2")], None, 7)] == [
        ("train.seed=1",),
        ("train.seed=2",),
    ]
    # commas inside brackets and strings belong to the value; a key ending like another is shown whole
    assert parse_axis('units=[8, 16],[32],"a,b"').values == ("[8, 16]", "[32]", '"a,b"')
    named = trials([parse_axis("train.l2=0,1e-4"), parse_axis("l2=1")], None, 0)
    assert named[1].name == "0001-train.l2=1e-4,l2=1"


def test_random_points_are_reproducible_draws():
    grid = [parse_axis("hidden=4,8,16"), parse_axis("optimizer.lr=1e-3,1e-2")]
    drawn = trials(grid, 4, 5)
    assert [t.point for t in drawn] == [t.point for t in trials(grid, 4, 5)]
    assert len({t.point for t in drawn}) == 4  # distinct points of the finite grid
    assert [t.point for t in drawn] != [t.point for t in trials(grid, 4, 6)]
    ranged = trials([parse_axis("optimizer.lr=1e-4..1e-2"), parse_axis("hidden=2..16")], 50, 1)
    lrs = [float(dict(t.point)["optimizer.lr"]) for t in ranged]
    hidden = [int(dict(t.point)["hidden"]) for t in ranged]
    assert all(1e-4 <= v <= 1e-2 and float(f"{v:.3g}") == v for v in lrs)
    assert sum(v < 1e-3 for v in lrs) > 10  # log-uniform: a decade below 1e-3 as likely as above
    assert all(2 <= h <= 16 for h in hidden) and len(set(hidden)) > 5
    with pytest.raises(ValueError, match="add --random N"):
        trials([parse_axis("optimizer.lr=1e-4..1e-2")], None, 0)
    with pytest.raises(ValueError, match="more points than the grid's 6"):
        trials(grid, 7, 0)
    for bad in ("hidden", "hidden=", "lr=0.0..1", "lr=2..1", "hidden=4,,8", "hidden=4,4"):
        with pytest.raises(ValueError):
            parse_axis(bad)


def test_fit_trains_in_a_thread_other_than_the_main_one(tmp_path):
    """How a Ray Tune trial trains: the loop leaves Ctrl-C to the main thread."""
    from nnc import load

    project(tmp_path)
    model = load(tmp_path / "spec.nn")
    done = []
    thread = threading.Thread(target=lambda: done.append(model.fit(out=tmp_path / "run", verbose=0)))
    thread.start()
    thread.join(TIMEOUT)
    assert len(done[0].epoch) == 4 and (tmp_path / "run" / "summary.json").exists()


# ---- checks before training -----------------------------------------------------------
@pytest.mark.parametrize("grid,same_as", [("hidden=4,-8", "hidden=-8"), ("hiden=4,8", "hiden=4")])
def test_a_bad_point_is_the_set_diagnostic_before_any_training(tmp_path, grid, same_as):
    project(tmp_path)
    result = run_nnc(tmp_path, "sweep", "spec.nn", "--grid", grid)
    train = run_nnc(tmp_path, "train", "spec.nn", "--set", same_as)
    assert result.returncode == train.returncode == 3
    assert result.stderr == train.stderr and "error[E" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_sweep_help_imports_no_numpy_or_ray():
    code = (
        "import sys; from nnc.cli import main\n"
        "try:\n    main(['sweep', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted({'numpy', 'ray', 'onnx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("HEAVY []"), out


def test_missing_ray_is_e550_naming_the_extra(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from nnc.cli import main

    project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = CliRunner().invoke(main, ["sweep", "spec.nn", "--grid", "hidden=4,8", "--engine", "ray"])
    assert result.exit_code == 2
    assert "error[E550]" in result.stderr and "pip install 'nnc[ray]'" in result.stderr
    assert not (tmp_path / "runs").exists()


# ---- the local engine -----------------------------------------------------------------
def test_local_sweep_is_reproducible_ranked_and_its_best_exports(reference, tmp_path):
    again = project(tmp_path / "again")
    result = ok(run_nnc(again, "sweep", "spec.nn", *GRID, "--workers", "2"))
    board = reference / "runs/spec-sweep/leaderboard.csv"
    assert (again / "runs/spec-sweep/leaderboard.csv").read_bytes() == board.read_bytes()
    rows = leaderboard(reference)
    assert sorted(r["trial"] for r in rows) == NAMES
    assert all(r["status"] == "finished" and r["epochs"] == "4" for r in rows)
    values = [float(r["best_val_loss"]) for r in rows]
    assert values == sorted(values)
    for row in rows:  # each trial is a normal run: its seed, its overrides, its best epoch
        run = reference / row["run_dir"]
        summary = json.loads((run / "summary.json").read_text())
        index = NAMES.index(row["trial"])
        assert summary["seed"] == int(row["seed"]) == trial_seed(3, index)
        assert json.loads((run / "model.json").read_text())["overrides"] == [
            f"hidden={row['hidden']}",
            f"optimizer.lr={row['optimizer.lr']}",
            f"train.seed={row['seed']}",
        ]
        with open(run / "metrics.csv") as f:
            assert float(row["best_val_loss"]) == min(float(r["val_loss"]) for r in csv.DictReader(f))
    assert os.readlink(again / "runs/spec-sweep/best") == rows[0]["trial"]
    assert rows[0]["trial"] in result.stdout.splitlines()[1]  # the printed table, best first
    exported = ok(run_nnc(again, "export", "runs/spec-sweep/best"))
    assert (again / "runs/spec-sweep" / rows[0]["trial"] / "model.onnx").exists(), exported.stderr
    # the same folder with another sweep is refused, naming what differs
    other = run_nnc(again, "sweep", "spec.nn", "--grid", "hidden=4,16")
    assert other.returncode == 5 and "error[E560]" in other.stderr and "grid" in other.stderr


def test_rerun_keeps_finished_trials_and_resumes_the_unfinished_one(reference, tmp_path, monkeypatch):
    """An interrupted sweep, simulated exactly: trial 0 finished, trial 2 interrupted after its
    third step (mid-epoch, checkpointed as a Ctrl-C leaves it), the others never started."""
    from nnc import load
    from nnc.sweep.define import define
    from nnc.sweep.folder import claim
    from nnc.sweep.trial import Interrupt, run_trial

    project(tmp_path)
    monkeypatch.chdir(tmp_path)
    sweep = define(load("spec.nn"), GRID[1::2])
    claim(sweep, overwrite=False)
    assert run_trial(sweep, sweep.trials[0]).status == "finished"
    calls = iter(range(100))
    stopped = run_trial(sweep, sweep.trials[2], [Interrupt(lambda: next(calls) >= 3)])
    assert stopped.status == "unfinished"
    second = sweep.run_dir(sweep.trials[2])
    assert (second / "checkpoint.npz").exists() and not (second / "summary.json").exists()
    first = sweep.run_dir(sweep.trials[0])
    kept = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}

    result = ok(run_nnc(tmp_path, "sweep", "spec.nn", *GRID, "--workers", "2"))
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == kept
    assert "0000-hidden=4,lr=1e-3" not in result.stderr  # kept: not trained, not reported
    board = (tmp_path / "runs/spec-sweep/leaderboard.csv").read_bytes()
    assert board == (reference / "runs/spec-sweep/leaderboard.csv").read_bytes()


def test_a_failing_trial_is_recorded_and_the_others_finish(tmp_path):
    project(tmp_path)
    result = run_nnc(tmp_path, "sweep", "spec.nn", "--grid", "optimizer.lr=0.01,1e30,0.03")
    assert result.returncode == 5, result.stderr
    rows = leaderboard(tmp_path)
    assert [r["status"] for r in rows] == ["finished", "finished", "failed"]
    assert rows[-1]["trial"] == "0001-lr=1e30" and rows[-1]["message"].startswith("E501: the loss became")
    assert rows[-1]["best_val_loss"] == "" and "0001-lr=1e30: failed: E501" in result.stderr
    assert os.readlink(tmp_path / "runs/spec-sweep/best") == rows[0]["trial"]


# ---- the Ray engine, on the session's local cluster (tests/conftest.py: ray_cluster) ------
def test_ray_sweep_without_asha_equals_the_local_one(reference, ray_cluster, tmp_path):
    project(tmp_path)
    ok(
        run_nnc(
            tmp_path,
            "sweep",
            "spec.nn",
            *GRID,
            "--engine",
            "ray",
            "--address",
            ray_cluster,
            "--scheduler",
            "none",
        )
    )
    board = (tmp_path / "runs/spec-sweep/leaderboard.csv").read_bytes()
    assert board == (reference / "runs/spec-sweep/leaderboard.csv").read_bytes()


def test_ray_asha_stops_a_clearly_poor_trial_early(ray_cluster, tmp_path):
    project(tmp_path)
    grid = ("--grid", "optimizer.lr=0.05,0.03,0.04,1e-9")  # the poor one last: the rung holds others
    args = ("--address", ray_cluster, "--reduction-factor", "2", "--set", "train.epochs=6")
    result = ok(run_nnc(tmp_path, "sweep", "spec.nn", *grid, "--engine", "ray", *args))
    rows = {r["trial"]: r for r in leaderboard(tmp_path)}
    poor = rows["0003-lr=1e-9"]
    assert poor["status"] == "stopped early (ASHA)" and int(poor["epochs"]) < 6, result.stderr
    assert all(r["status"] in ("finished", "stopped early (ASHA)") for r in rows.values())
    run = tmp_path / poor["run_dir"]
    assert json.loads((run / "summary.json").read_text())["stopped_early"] is True
    ok(run_nnc(tmp_path, "export", run))  # a valid run directory: the weights at the stop
    # kept as it is when the sweep runs again
    mtime = (run / "weights.npz").stat().st_mtime_ns
    ok(run_nnc(tmp_path, "sweep", "spec.nn", *grid, "--engine", "ray", *args))
    assert (run / "weights.npz").stat().st_mtime_ns == mtime
