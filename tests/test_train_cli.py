"""`nnc train` and `nnc eval` as a user runs them: the real console script in a subprocess, in a
temporary folder, with output piped (so never a terminal, except where a pseudo-terminal is
the point). Also Progress on its own: the live bar, its redraw rate, the plain lines."""

from __future__ import annotations

import io
import json
import math
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest
from nnc.runtime.train import progress as progress_module
from nnc.runtime.train.progress import Progress

TIMEOUT = 60  # seconds; every subprocess is bounded, so a hang fails instead of blocking CI

SPEC = """\
model blobs {
    input x: float32[4]
    dense(8) -> relu
    dense(3) -> softmax as probs
}
loss cross_entropy(probs, target=label)
optimizer adam(lr=0.01)
train {
    epochs = 3
    batch_size = 16
    validation = 0.25
    metrics = [accuracy]
    seed = 3
}
data { train = "data.csv"; test = "test.csv" }
"""
HEADER = "a,b,c,d,label"
PARAMS = {
    "dense_1.weight": (4, 8),
    "dense_1.bias": (8,),
    "dense_2.weight": (8, 3),
    "dense_2.bias": (3,),
}
EPOCH_LINE = re.compile(
    r"epoch (\d+)/(\d+)  loss (\d+\.\d{4})  accuracy \d\.\d{4}  val_loss \d+\.\d{4}  "
    r"val_accuracy \d\.\d{4}(  lr [0-9.e+-]+)?  \d+\.\d\ds"
)


# ---- helpers --------------------------------------------------------------------------
def nnc(cwd, *args, env=None, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    """`nnc ARGS` in `cwd`, output captured (pipes: not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "nnc", *map(str, args)],
        cwd=cwd,
        env=_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(extra=None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(extra or {})
    return env


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def refused(result: subprocess.CompletedProcess, code: int) -> str:
    """The stderr of a run that must exit with `code` and a message, never a traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr
    return result.stderr


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 4-D: easy to separate."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    x = 2 * np.eye(3, 4)[label] + 0.5 * rng.standard_normal((n, 4))
    return x, label


def write_csv(path, n: int = 120, seed: int = 0, names=None) -> np.ndarray:
    """A blobs CSV; `names` replaces the class indices by names. Returns the labels."""
    x, label = blobs(n, seed)
    rows = [
        ",".join(f"{v:.4f}" for v in xi) + f",{names[y] if names else y}"
        for xi, y in zip(x, label, strict=True)
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return label


@pytest.fixture
def project(tmp_path):
    """A folder with the spec blobs.nn, its training data and its test data."""
    (tmp_path / "blobs.nn").write_text(SPEC)
    write_csv(tmp_path / "data.csv")
    write_csv(tmp_path / "test.csv", n=30, seed=1)
    return tmp_path


def metrics(run) -> list[dict]:
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]


def weights(run) -> dict:
    """The parameters of a run's weights.npz (not its `model:record`)."""
    with np.load(run / "weights.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files if ":" not in k}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def epoch_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("epoch ")]


def assert_points_at(stderr: str, folder, path: str, line: int, column: int, code: str, width: int) -> None:
    """A diagnostic `path:line:col: error[code]` (`path` relative to `folder`) followed by the
    file's line and `width` carets starting under column `column` of that line."""
    lines = stderr.splitlines()
    head = f"{path}:{line}:{column}: error[{code}]: "
    at = next((i for i, x in enumerate(lines) if x.startswith(head)), None)
    assert at is not None, f"no line starting {head!r} in:\n{stderr}"
    source = (folder / path).read_text().splitlines()[line - 1]
    gutter = " " * len(str(line))
    assert lines[at + 1] == f"{gutter} |"
    assert lines[at + 2] == f"{line} | {source}"
    carets = lines[at + 3]
    assert carets == f"{gutter} | {' ' * (column - 1)}{'^' * width}", carets


# ---- 1. a run, piped ------------------------------------------------------------------
def test_train_prints_one_plain_line_per_epoch_and_writes_the_run_directory(project):
    result = ok(nnc(project, "train", "blobs.nn", "--out", "run"))
    assert result.stdout == ""
    err = result.stderr
    assert "\r" not in err and "\x1b" not in err
    lines = epoch_lines(err)
    assert len(lines) == 3
    for k, line in enumerate(lines, start=1):
        match = EPOCH_LINE.fullmatch(line)
        assert match, line
        assert match.group(1, 2) == (str(k), "3") and match.group(4) is None  # lr only with -v
    assert err.splitlines()[-1] == f"finished 3 of 3 epochs; weights in {os.path.join('run', 'weights.npz')}"

    run = project / "run"
    written = {
        "spec.nn",
        "program.ir",
        "model.json",
        "metrics.csv",
        "checkpoint.npz",
        "weights.npz",
        "summary.json",
    }
    assert written <= {p.name for p in run.iterdir()}
    # No temporary file is left; .lock is the lock the run held (kept: removing it would race)
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")] == [".lock"]
    assert (run / "spec.nn").read_text() == SPEC
    assert "epochs=3 batch_size=16" in (run / "program.ir").read_text()
    info = json.loads((run / "model.json").read_text())
    assert info["inputs"] == {"x": "float32[N, 4]"} and info["outputs"] == {"probs": "float32[N, 3]"}

    rows = metrics(run)
    assert (run / "metrics.csv").read_text().startswith("epoch,loss,accuracy,val_loss,val_accuracy,lr,")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    # The printed loss is the logged one, rounded.
    for row, line in zip(rows, lines, strict=True):
        assert float(EPOCH_LINE.fullmatch(line).group(3)) == pytest.approx(float(row["loss"]), abs=6e-5)

    summary = json.loads((run / "summary.json").read_text())
    assert {"best_epoch", "final", "seed", "versions", "data_fingerprint"} <= summary.keys()
    assert summary["seed"] == 3 and summary["epochs_run"] == 3
    assert summary["final"]["epoch"] == 3
    assert summary["final"]["loss"] == pytest.approx(float(rows[-1]["loss"]), rel=1e-5)
    assert {"nnc", "numpy", "python"} <= summary["versions"].keys()
    assert re.fullmatch(r"[0-9a-f]{64}", summary["data_fingerprint"])

    w = weights(run)
    assert {k: v.shape for k, v in w.items()} == PARAMS
    with np.load(run / "weights.npz", allow_pickle=False) as f:
        record = json.loads(str(f["model:record"]))
    assert record["program"] == (run / "program.ir").read_text() and record["labels"] == {}
    assert all(v.dtype == np.float32 for v in w.values())
    with np.load(run / "checkpoint.npz", allow_pickle=False) as checkpoint:
        assert set(PARAMS) <= set(checkpoint.files)
        assert json.loads(str(checkpoint["state:meta"]))["epoch"] == 3


# ---- 2. quiet and verbose -------------------------------------------------------------
def test_quiet_prints_nothing_and_verbose_adds_sizes_the_run_directory_and_the_lr(project):
    quiet = ok(nnc(project, "train", "blobs.nn", "--out", "q", "--quiet"))
    assert quiet.stdout == "" and quiet.stderr == ""
    assert (project / "q" / "weights.npz").exists()

    verbose = ok(nnc(project, "train", "blobs.nn", "--out", "v", "-v"))
    # 4*8 + 8 + 8*3 + 3 parameters; a quarter of 120 samples held out.
    assert "67 parameters; 90 training samples, 30 validation; run directory v" in verbose.stderr
    lines = epoch_lines(verbose.stderr)
    assert len(lines) == 3
    assert all(EPOCH_LINE.fullmatch(x) and "  lr 0.01  " in x for x in lines), lines


# ---- 3. settings from the command line -------------------------------------------------
def test_command_line_settings_win_over_the_spec_and_are_recorded(project):
    ok(nnc(project, *"train blobs.nn --out run --epochs 2 --batch-size 8 --lr 0.05 --seed 5".split()))
    run = project / "run"
    rows = metrics(run)
    assert len(rows) == 2
    assert [float(r["lr"]) for r in rows] == [0.05, 0.05]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["seed"] == 5
    assert summary["steps"] == 2 * math.ceil(90 / 8)  # the batch size took effect
    ir = (run / "program.ir").read_text()
    assert "epochs=2 batch_size=8 " in ir and "seed=5 " in ir and "adam(lr=0.05," in ir

    ok(nnc(project, *"train blobs.nn --out set --set train.epochs=4 --set optimizer.lr=0.02".split()))
    assert len(metrics(project / "set")) == 4
    assert float(metrics(project / "set")[0]["lr"]) == 0.02
    assert "epochs=4 " in (project / "set" / "program.ir").read_text()


def test_data_option_trains_on_another_file_relative_to_the_working_directory(project):
    # The spec lives in a subfolder: its own data path is relative to it, --data to the cwd.
    (project / "specs").mkdir()
    (project / "specs" / "blobs.nn").write_text(SPEC)
    write_csv(project / "specs" / "data.csv")
    write_csv(project / "other.csv", n=60, seed=7)
    own = ok(nnc(project, "train", "specs/blobs.nn", "--out", "own", "-v"))
    other = ok(nnc(project, "train", "specs/blobs.nn", "--out", "other", "--data", "other.csv", "-v"))
    assert "90 training samples, 30 validation" in own.stderr
    assert "45 training samples, 15 validation" in other.stderr
    fingerprints = [
        json.loads((project / r / "summary.json").read_text())["data_fingerprint"] for r in ("own", "other")
    ]
    assert fingerprints[0] != fingerprints[1]


# ---- 4. determinism -------------------------------------------------------------------
def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not(project):
    for out, seed in (("a", 11), ("b", 11), ("c", 12)):
        ok(nnc(project, "train", "blobs.nn", "--out", out, "--seed", seed, "-q"))
    a, b, c = (weights(project / r) for r in "abc")
    assert same_weights(a, b)
    assert not same_weights(a, c)


# ---- 5. Ctrl-C and --resume ------------------------------------------------------------
LONG_SPEC = SPEC.replace("epochs = 3", "epochs = 14").replace("batch_size = 16", "batch_size = 1")


def test_ctrl_c_saves_a_checkpoint_and_resume_continues_bit_identically(project):
    # 14 epochs of 600 one-sample steps (tens of milliseconds each): the run is still going
    # when the signal comes just after the first epoch's line, most likely inside epoch 2.
    (project / "long.nn").write_text(LONG_SPEC.replace('"data.csv"', '"long.csv"'))
    write_csv(project / "long.csv", n=800, seed=2)
    ok(nnc(project, "train", "long.nn", "--out", "whole", "-q"))

    proc = subprocess.Popen(
        [sys.executable, "-m", "nnc", "train", "long.nn", "--out", "cut"],
        cwd=project,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr] + [lines.put(None)])
    reader.start()
    seen = []
    try:
        while True:
            try:
                line = lines.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no epoch line within {TIMEOUT} s:\n{''.join(seen)}")
            if line is None:
                pytest.fail(f"nnc train ended before the first epoch line:\n{''.join(seen)}")
            seen.append(line)
            if line.startswith("epoch 1/14"):
                break
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=TIMEOUT)
    while (line := lines.get_nowait()) is not None:
        seen.append(line)
    err = "".join(seen)
    assert code != 0, f"the run finished before the signal arrived; make its epochs longer:\n{err}"
    assert code == 130, err
    assert "Traceback" not in err
    assert "nnc: interrupted; checkpoint saved, continue with --resume" in err
    cut = project / "cut"
    assert (cut / "checkpoint.npz").exists()
    assert not (cut / "weights.npz").exists()
    assert not [p.name for p in cut.iterdir() if p.name.endswith(".tmp")]
    assert len(metrics(cut)) < 14

    resumed = ok(nnc(project, "train", "long.nn", "--resume", "cut"))
    assert re.search(r"resuming cut in epoch \d+ after \d+ steps", resumed.stderr), resumed.stderr
    assert same_weights(weights(project / "whole"), weights(cut))
    # Every logged number but the timing is identical too.
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in metrics(project / "whole")]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in metrics(cut)] == strip


# ---- 6. resume refusals ---------------------------------------------------------------
def test_resume_refusals(project):
    (project / "empty").mkdir()
    err = refused(nnc(project, "train", "blobs.nn", "--resume", "empty"), 5)
    assert "empty: error[E511]: " in err and "nothing to resume" in err

    ok(nnc(project, "train", "blobs.nn", "--out", "run", "-q"))
    before = weights(project / "run")
    (project / "wider.nn").write_text(SPEC.replace("dense(8)", "dense(9)"))
    err = refused(nnc(project, "train", "wider.nn", "--resume", "run"), 5)
    assert "run: error[E514]: the spec changed since run started" in err
    assert "-  dense_1: float32[N, 8]" in err and "+  dense_1: float32[N, 9]" in err

    done = ok(nnc(project, "train", "blobs.nn", "--resume", "run"))
    assert "finished 3 of 3 epochs; nothing to resume" in done.stderr
    assert epoch_lines(done.stderr) == []
    assert same_weights(before, weights(project / "run"))

    err = refused(nnc(project, "train", "blobs.nn", "--resume", "run", "--out", "elsewhere"), 2)
    assert "--resume continues the run in its own directory; leave out --out" in err
    assert not (project / "elsewhere").exists()
    # A directory that does not exist is refused by the option itself.
    assert "'--resume'" in refused(nnc(project, "train", "blobs.nn", "--resume", "nowhere"), 2)


# ---- 7. data errors, located ----------------------------------------------------------
GOOD_ROWS = ["0.1,0.2,0.3,0.4,0", "1.5,0.5,0.25,2,1", "0.3,0.1,0.9,0.7,2"]


def _with(row: int, cell: int, value: str) -> str:
    rows = [r.split(",") for r in GOOD_ROWS]
    rows[row][cell] = value
    return "\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n"


@pytest.mark.parametrize(
    "text, code, line, column, width",
    [
        (_with(1, 1, "abc"), "E407", 3, 5, 3),  # non-numeric
        (_with(2, 0, "inf"), "E408", 4, 1, 3),  # not finite
        (_with(0, 4, "7"), "E409", 2, 17, 1),  # a class index out of range
        (_with(1, 3, ""), "E406", 3, 14, 1),  # a missing value: the caret under the comma after it
        ("a,b,c,label\n1,2,3,0\n", "E402", 1, 1, len("a,b,c,label")),  # a column short: the header
    ],
    ids=["non-numeric", "inf", "label-out-of-range", "missing", "too-few-columns"],
)
def test_bad_data_is_located_like_a_compiler_diagnostic(project, text, code, line, column, width):
    # --data: the runtime loader reads the file (the compiler only checks the spec's own data).
    (project / "bad.csv").write_text(text)
    err = refused(nnc(project, "train", "blobs.nn", "--data", "bad.csv", "--out", "run"), 4)
    assert_points_at(err, project, "bad.csv", line, column, code, width)
    assert err.rstrip().endswith("1 error")
    assert not (project / "run" / "weights.npz").exists()
    # Named in the spec, the same file is checked by `nnc check` as far as its header shows:
    # the column count with the very message training gives, the cells not at all.
    (project / "bad_data.nn").write_text(SPEC.replace('"data.csv"', '"bad.csv"'))
    checked = nnc(project, "check", "bad_data.nn")
    if code == "E402":
        assert checked.returncode == 3 and f"error[{code}]" in checked.stderr
        assert err.splitlines()[0].split(": ", 1)[1] == checked.stderr.splitlines()[0].split(": ", 1)[1]
    else:
        assert checked.returncode == 0, checked.stderr


def test_empty_and_missing_data_files_are_refused(project):
    (project / "empty.csv").write_text("")
    err = refused(nnc(project, "train", "blobs.nn", "--data", "empty.csv"), 4)
    assert err.startswith("empty.csv: error[E405]: `empty.csv` is empty")

    err = refused(nnc(project, "train", "blobs.nn", "--data", "nowhere.csv"), 4)
    assert err.startswith("nowhere.csv: error[E403]: data file `nowhere.csv` does not exist")

    # A missing file the spec names: `nnc check` only warns (it may be created later), training
    # refuses it once, at the spec's line; eval, which reads the test file, likewise.
    (project / "missing.nn").write_text(SPEC.replace('"data.csv"', '"gone.csv"'))
    ok(nnc(project, "check", "missing.nn"))
    err = refused(nnc(project, "train", "missing.nn"), 4)
    assert err.startswith("missing.nn:15:16: error[E403]: data file `gone.csv` does not exist")
    assert "W401" not in err and err.count("gone.csv` does not exist") == 1
    # Training data from --data: the spec's missing file is not read, so it stays a warning.
    assert "W401" in ok(nnc(project, "train", "missing.nn", "--data", "data.csv", "-q", "--out", "r")).stderr
    # A bad file the spec names is found as the spec compiles: still bad data, exit 4.
    (project / "short.csv").write_text("a,b,label\n1,2,0\n")
    (project / "short.nn").write_text(SPEC.replace('"data.csv"', '"short.csv"'))
    assert "error[E402]" in refused(nnc(project, "check", "short.nn"), 3)
    err = refused(nnc(project, "train", "short.nn"), 4)
    assert err.startswith("short.nn:15:16: error[E402]: expected 4 feature columns")
    (project / "no_test.nn").write_text(SPEC.replace('"test.csv"', '"gone_test.csv"'))
    err = refused(nnc(project, "eval", "no_test.nn", "--weights", "r"), 4)
    assert err.startswith("no_test.nn:15:35: error[E403]: data file `gone_test.csv` does not exist")


def test_a_label_the_training_data_did_not_have_is_refused_at_eval(project):
    names = ["cat", "dog", "fox"]
    write_csv(project / "animals.csv", names=names)
    ok(nnc(project, "train", "blobs.nn", "--data", "animals.csv", "--out", "run", "-q"))
    (project / "zoo.csv").write_text(f"{HEADER}\n1,2,3,4,dog\n1,2,3,4,emu\n")
    err = refused(nnc(project, "eval", "blobs.nn", "--weights", "run", "--data", "zoo.csv"), 4)
    assert_points_at(err, project, "zoo.csv", 3, 9, "E410", 3)
    assert "unknown label 'emu'" in err and "help: labels: cat, dog, fox" in err


# ---- 8. a non-finite loss ---------------------------------------------------------------
def test_a_non_finite_loss_points_at_the_layer_and_keeps_the_last_checkpoint(project):
    # One epoch of warm-up at lr 1e30 * 1e-32 trains normally; the second epoch at 1e30 overflows.
    schedule = "sgd(lr=0.1, schedule=constant(warmup=1, warmup_start=1e-32))"
    (project / "blowup.nn").write_text(SPEC.replace("adam(lr=0.01)", schedule))
    every_epoch = ("--set", 'train.checkpoint_every="1 epoch"')
    err = refused(nnc(project, "train", "blowup.nn", "--out", "run", "--lr", "1e30", *every_epoch), 5)
    assert len(epoch_lines(err)) == 1
    assert "error[E501]: the loss became" in err and "at epoch 2, step" in err
    layer = re.search(r"from layer `(dense_[12])`", err)
    assert layer, err
    line, text = {"dense_1": (3, "dense(8)"), "dense_2": (4, "dense(3)")}[layer.group(1)]
    assert_points_at(err, project, "blowup.nn", line, 5, "E501", len(text))
    assert "help: lower the learning rate" in err
    run = project / "run"
    assert not (run / "weights.npz").exists()
    assert len(metrics(run)) == 1
    with np.load(run / "checkpoint.npz", allow_pickle=False) as checkpoint:
        assert json.loads(str(checkpoint["state:meta"]))["epoch"] == 1
        assert all(np.isfinite(checkpoint[k]).all() for k in PARAMS)


# ---- 9. --init-weights ------------------------------------------------------------------
def test_init_weights_from_a_run_or_an_npz_and_a_mismatch_is_refused(project):
    ok(nnc(project, "train", "blobs.nn", "--out", "first", "-q"))
    ok(nnc(project, "train", "blobs.nn", "--out", "warm", "--init-weights", "first", "-q"))
    ok(nnc(project, "train", "blobs.nn", "--out", "npz", "--init-weights", "first/weights.npz", "-q"))
    # Starting from trained weights, the first epoch's loss is already below a fresh start's.
    fresh = float(metrics(project / "first")[0]["loss"])
    assert float(metrics(project / "warm")[0]["loss"]) < fresh
    # A run directory and its weights.npz are the same start.
    assert [r["loss"] for r in metrics(project / "warm")] == [r["loss"] for r in metrics(project / "npz")]

    np.savez(project / "bad.npz", **{"dense_1.weight": np.zeros((5, 8), np.float32)})
    err = refused(nnc(project, "train", "blobs.nn", "--out", "bad", "--init-weights", "bad.npz"), 4)
    assert err.startswith("bad.npz: error[E420]: ")
    assert "dense_1.weight has shape [5, 8], the model needs [4, 8]" in err
    assert "missing dense_1.bias" in err


# ---- 10. nnc eval -----------------------------------------------------------------------
def _confusion(stdout: str) -> tuple[list[str], dict[str, list[int]]]:
    lines = stdout.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("confusion matrix of probs"))
    header = lines[at + 1].split()
    rows = {x.split()[0]: [int(v) for v in x.split()[1:]] for x in lines[at + 2 : at + 2 + len(header)]}
    return header, rows


def test_eval_prints_samples_loss_metrics_and_a_confusion_matrix(project):
    ok(nnc(project, "train", "blobs.nn", "--out", "run", "-q"))
    _, label = blobs(30, 1)
    text = ok(nnc(project, "eval", "blobs.nn", "--weights", "run", "--data", "test.csv")).stdout
    assert text.splitlines()[0] == "30 samples"
    values = dict(re.findall(r"^(loss|accuracy) +(\d+\.\d{4})$", text, re.M))
    assert values.keys() == {"loss", "accuracy"}
    header, rows = _confusion(text)
    assert header == ["0", "1", "2"]
    assert [sum(rows[c]) for c in header] == np.bincount(label, minlength=3).tolist()
    assert sum(rows[c][i] for i, c in enumerate(header)) / 30 == pytest.approx(
        float(values["accuracy"]), abs=1e-4
    )

    # The same numbers as JSON; without --data, the spec's data.test is used.
    out = json.loads(ok(nnc(project, "eval", "blobs.nn", "--weights", "run", "--format", "json")).stdout)
    assert out["samples"] == 30
    assert f"{out['loss']:.4f}" == values["loss"] and f"{out['accuracy']:.4f}" == values["accuracy"]
    assert out["confusion"]["probs"] == [rows[c] for c in header]


def test_eval_shows_string_class_labels_by_name(project):
    names = ["cat", "dog", "fox"]
    write_csv(project / "animals.csv", names=names)
    label = write_csv(project / "animals_test.csv", n=30, seed=1, names=names)
    ok(nnc(project, "train", "blobs.nn", "--data", "animals.csv", "--out", "run", "-q"))
    assert json.loads((project / "run" / "model.json").read_text())["labels"] == {"label": names}
    text = ok(nnc(project, "eval", "blobs.nn", "--weights", "run", "--data", "animals_test.csv")).stdout
    header, rows = _confusion(text)
    assert header == names and list(rows) == names
    assert [sum(rows[c]) for c in names] == np.bincount(label, minlength=3).tolist()


def test_eval_refuses_weights_that_do_not_fit(project):
    np.savez(project / "bad.npz", **{k: np.zeros(s[::-1], np.float32) for k, s in PARAMS.items()})
    err = refused(nnc(project, "eval", "blobs.nn", "--weights", "bad.npz"), 4)
    assert "error[E420]" in err and "dense_1.weight has shape [8, 4], the model needs [4, 8]" in err


# ---- 11. colour -------------------------------------------------------------------------
@pytest.mark.parametrize("no_color", [None, "1"], ids=["default", "NO_COLOR"])
def test_piped_diagnostics_have_no_escape_codes(project, no_color):
    (project / "bad.csv").write_text(_with(1, 1, "abc"))
    env = {"NO_COLOR": no_color} if no_color else None
    err = refused(nnc(project, "train", "blobs.nn", "--data", "bad.csv", env=env), 4)
    assert "error[E407]" in err and "^^^" in err
    assert "\x1b" not in err


def on_terminal(cwd, *args, env=None, interrupt_when=None) -> tuple[int, str]:
    """`nnc ARGS` with stderr on a pseudo-terminal: (exit code, what the terminal received).
    `interrupt_when(text)`: send SIGINT once it holds."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnc", *map(str, args)],
        cwd=cwd,
        env=_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    received, deadline, sent = b"", time.monotonic() + TIMEOUT, False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # Linux: EIO once the child has closed the terminal
                    data = b""
                if not data:
                    break
                received += data
            if interrupt_when and not sent and interrupt_when(received.decode(errors="replace")):
                proc.send_signal(signal.SIGINT)
                sent = True
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, received.decode().replace("\r\n", "\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminal behaviour differs")
def test_on_a_terminal_a_live_bar_is_drawn_and_diagnostics_are_coloured_unless_no_color(project):
    (project / "long.nn").write_text(LONG_SPEC.replace('"data.csv"', '"long.csv"'))
    write_csv(project / "long.csv", n=4000, seed=2)

    # Interrupt while a bar is half drawn: the message must start on a line of its own.
    code, text = on_terminal(project, "train", "long.nn", "--out", "cut", interrupt_when=lambda t: ">" in t)
    assert code == 130, text
    assert re.search(
        r"\x1b\[2Kepoch 1/14 \[\x1b\[32m=*\x1b\[0m> *\] \d+/3000 loss \d+\.\d{4} eta \d+\.\ds", text
    ), text
    assert re.search(r"(^|\n)nnc: interrupted; checkpoint saved", text), repr(text[-300:])

    (project / "bad.csv").write_text(_with(1, 1, "abc"))
    code, coloured = on_terminal(project, "train", "blobs.nn", "--data", "bad.csv")
    assert code == 4 and "\x1b[1;31merror\x1b[0m[E407]" in coloured and "\x1b[1;31m^^^\x1b[0m" in coloured
    code, plain = on_terminal(project, "train", "blobs.nn", "--data", "bad.csv", env={"NO_COLOR": "1"})
    assert code == 4 and "error[E407]" in plain and "\x1b" not in plain


# ---- 12. help -----------------------------------------------------------------------------
def test_help_lists_the_commands_and_every_training_option(tmp_path):
    top = ok(nnc(tmp_path, "--help")).stdout
    commands = top[top.index("Commands:") :]
    assert re.search(r"^\s+train\s", commands, re.M) and re.search(r"^\s+eval\s", commands, re.M)
    train = ok(nnc(tmp_path, "train", "--help")).stdout
    options = "--data --epochs --batch-size --lr --seed --out --resume --init-weights --quiet --verbose --set"
    for option in options.split():
        assert re.search(rf"^\s+(-\w, )?{option}\b", train, re.M), option
    assert "--weights" in ok(nnc(tmp_path, "eval", "--help")).stdout


# ---- Progress on its own ------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module, "time", types.SimpleNamespace(perf_counter=clock))
    return clock


LOGS = {"epoch": 1, "loss": 0.5, "val_loss": 0.625, "lr": 0.01, "seconds": 0.3}


def test_live_progress_draws_a_bar_at_most_ten_times_a_second(clock, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    progress = Progress(out, live=True)
    progress.epoch_start()
    drawn = []
    for batch, at in enumerate([0.05, 0.12, 0.15, 0.23, 0.25, 0.26, 0.27, 0.28, 0.29, 0.30], start=1):
        clock.now = 100.0 + at
        before = out.getvalue()
        progress.step(1, 3, batch, 10, 0.5)
        if out.getvalue() != before:
            drawn.append(batch)
    # 0.1 s after the start, 0.1 s after that, and always the last batch.
    assert drawn == [2, 4, 10]
    text = out.getvalue()
    bars = text.split("\r\x1b[2K")[1:]
    assert len(bars) == 3
    # batch 2 of 10 after 0.12 s: 0.48 s to go; a fifth of the 24-wide bar filled.
    assert bars[0] == "epoch 1/3 [\x1b[32m====\x1b[0m>" + " " * 19 + "] 2/10 loss 0.5000 eta 0.5s"
    assert bars[2] == "epoch 1/3 [\x1b[32m" + "=" * 24 + "\x1b[0m] 10/10 loss 0.5000 eta 0.0s"
    progress.epoch_end(1, 3, dict(LOGS), 0.3)
    assert out.getvalue()[len(text) :] == "\r\x1b[2Kepoch 1/3  loss 0.5000  val_loss 0.6250  0.30s\n"
    # The bar's line has ended, so closing adds nothing.
    progress.close()
    assert out.getvalue().endswith("0.30s\n")


def test_no_color_keeps_the_bar_plain(clock, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    progress = Progress(out, live=True)
    progress.epoch_start()
    progress.step(2, 3, 5, 5, 1.25)
    assert out.getvalue() == "\r\x1b[2Kepoch 2/3 [" + "=" * 24 + "] 5/5 loss 1.2500 eta 0.0s"


def test_a_bar_cut_short_ends_its_line_on_close(clock):
    out = io.StringIO()
    progress = Progress(out, live=True)
    progress.epoch_start()
    clock.now += 0.2
    progress.step(1, 3, 3, 10, 0.5)
    progress.close()
    assert out.getvalue().endswith(" eta 0.5s\n")
    progress.close()  # once only
    assert out.getvalue().count("\n") == 1


def test_plain_progress_writes_only_the_epoch_lines(clock):
    out = io.StringIO()
    progress = Progress(out)  # a StringIO is not a terminal
    assert progress.live is False
    progress.epoch_start()
    for batch in range(1, 11):
        clock.now += 0.5
        progress.step(1, 2, batch, 10, 0.5)
    assert out.getvalue() == ""
    progress.detail("only with --verbose")
    progress.epoch_end(1, 2, dict(LOGS, loss=12345.678), 5.0)
    progress.info("finished")
    progress.close()
    assert out.getvalue() == "epoch 1/2  loss 1.235e+04  val_loss 0.6250  5.00s\nfinished\n"


def test_verbosity_levels(clock):
    quiet, verbose = io.StringIO(), io.StringIO()
    for stream, level in ((quiet, 0), (verbose, 2)):
        progress = Progress(stream, verbosity=level, live=True)
        progress.detail("67 parameters")
        progress.epoch_start()
        clock.now += 1
        progress.step(1, 1, 1, 1, 0.5)
        progress.epoch_end(1, 1, dict(LOGS), 1.0)
        progress.info("done")
    assert quiet.getvalue() == ""
    lines = verbose.getvalue().split("\n")
    assert lines[0] == "67 parameters"
    assert lines[1].endswith("\r\x1b[2Kepoch 1/1  loss 0.5000  val_loss 0.6250  lr 0.01  1.00s")
    assert lines[2:] == ["done", ""]
