"""A trained model is used as it was trained: a run directory is exported and evaluated with
its own copy of the spec, whatever became of the file; weights meet only the network they were
trained with; a bare weights file carries the labels and columns its run directory knows; a
CSV is read by column name; and nothing of the training machine's paths leaves it."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from conftest import ROOT
from nnc.runtime.data import IgnoredColumns
from nnc.runtime.errors import RunError

import nnc
from nnc.cli import main

SPEC = """\
import "lib/blocks.nn"
model blobs {
    input x: float32[4]
    hidden(16)
    dense(3) -> softmax as probs
}
loss cross_entropy(probs, target=label)
optimizer adam(lr=0.05)
train { epochs = 8; batch_size = 16; metrics = [accuracy]; seed = 3 }
data { train = "train.csv"; test = "test.csv"; standardize = true }
"""
BLOCKS = "block hidden(width) {\n    input x\n    dense(width) -> relu\n}\n"
COLUMNS = ["a", "b", "c", "d"]


def write_csv(path, x, label, names=COLUMNS, extra=None):
    """A CSV of features `x` (columns `names`), string labels, and `extra` columns first."""
    extra = extra or {}
    header = [*extra, *names, "label"]
    rows = [
        [*(str(v[i]) for v in extra.values()), *(f"{v:.6g}" for v in x[i]), label[i]] for i in range(len(x))
    ]
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")


def blobs(rng, n):
    kind = rng.integers(0, 3, n)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], np.float32)
    x = (centers[kind] + 0.6 * rng.standard_normal((n, 4))) * [1, 10, 100, 1000]
    return x.astype(np.float32), np.array(["cat", "dog", "fox"])[kind]


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A trained run in tmp_path/run, of a spec that imports a block and reads string labels."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.nn").write_text(BLOCKS)
    write_csv(tmp_path / "train.csv", *blobs(rng, 300))
    write_csv(tmp_path / "test.csv", *blobs(rng, 90))
    (tmp_path / "spec.nn").write_text(SPEC)
    nnc.load(tmp_path / "spec.nn").fit(out=tmp_path / "run")
    return tmp_path / "run"


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ops(path) -> list[str]:
    return [n.op_type for n in onnx.load(path).graph.node]


def test_a_run_exports_and_evaluates_with_the_spec_it_was_trained_with(run, tmp_path):
    before = nnc.load_run(run).evaluate()
    # Edit both files after training: relu -> tanh in the block, another size in the spec.
    (tmp_path / "lib" / "blocks.nn").write_text(BLOCKS.replace("relu", "tanh"))
    (tmp_path / "spec.nn").write_text(SPEC.replace("hidden(16)", "hidden(17)"))
    assert json.loads((run / "imports.json").read_text()) == {"lib/blocks.nn": BLOCKS}
    result = cli("export", run)
    assert result.exit_code == 0, result.output
    assert "Relu" in ops(run / "model.onnx") and "Tanh" not in ops(run / "model.onnx")
    assert nnc.load_run(run).evaluate() == before and before["accuracy"] > 0.9
    x = np.loadtxt(tmp_path / "test.csv", delimiter=",", skiprows=1, usecols=range(4), dtype=np.float32)
    np.testing.assert_allclose(
        nnc.predict(run / "model.onnx", x), nnc.load_run(run).predict(x), rtol=1e-4, atol=1e-5
    )


def test_weights_meet_only_the_network_they_were_trained_with(run, tmp_path):
    (tmp_path / "lib" / "blocks.nn").write_text(BLOCKS.replace("relu", "tanh"))
    for args in (
        ["export", "spec.nn", "--weights", run],
        ["eval", "spec.nn", "--weights", run / "weights.npz"],
    ):
        result = cli(*args)
        assert result.exit_code == 4, result.output
        assert "error[E422]: the weights were trained with another network" in result.output
        assert "-  hidden_1.relu_1: float32[N, 16] = relu(hidden_1.dense_1)" in result.output
        assert "+  hidden_1.tanh_1: float32[N, 16] = tanh(hidden_1.dense_1)" in result.output
    assert not (run / "model.onnx").exists()
    # Training settings and data may differ: the network is the same.
    (tmp_path / "lib" / "blocks.nn").write_text(BLOCKS)
    (tmp_path / "other.nn").write_text(SPEC.replace("epochs = 8", "epochs = 2").replace("lr=0.05", "lr=0.1"))
    assert cli("export", "other.nn", "--weights", run, "-o", "o.onnx").exit_code == 0


def test_a_bare_weights_file_gives_the_run_directory_s_results(run, tmp_path):
    by_run = cli("eval", "spec.nn", "--weights", run)
    by_file = cli("eval", "spec.nn", "--weights", run / "weights.npz")
    assert by_run.exit_code == by_file.exit_code == 0
    assert by_file.output == by_run.output and "cat" in by_file.output  # labels by name
    model = nnc.load(tmp_path / "spec.nn").load(run / "weights.npz")
    assert model.labels == {"label": ["cat", "dog", "fox"]} and model.feature_columns == {"x": COLUMNS}
    assert model.evaluate() == nnc.load_run(run).evaluate()
    assert cli("export", "spec.nn", "--weights", run / "weights.npz", "-o", "bare.onnx").exit_code == 0
    assert cli("export", run, "-o", "full.onnx").exit_code == 0
    for path in ("bare.onnx", "full.onnx"):
        done = cli("predict", path, "--data", "test.csv", "-o", f"{path}.csv")
        assert done.exit_code == 0, done.output
    assert (tmp_path / "bare.onnx.csv").read_text() == (tmp_path / "full.onnx.csv").read_text()
    assert (tmp_path / "bare.onnx.csv").read_text().splitlines()[0] == "class,p_cat,p_dog,p_fox"


def test_a_bare_weights_file_of_an_older_nnc_names_its_run_directory(run):
    with np.load(run / "weights.npz") as f:
        np.savez(run / "weights.npz", **{k: f[k] for k in f.files if ":" not in k})
    with pytest.raises(RunError) as e:
        nnc.load_run(run).load(run / "weights.npz")
    assert e.value.code == "E423" and str(run) in e.value.help
    assert nnc.load_run(run).evaluate()["accuracy"] > 0.9  # the directory knows what it lacks


def test_csv_columns_are_matched_by_name_in_any_order(run, tmp_path):
    x, label = blobs(np.random.default_rng(5), 60)
    write_csv(tmp_path / "plain.csv", x, label)
    order = [3, 1, 0, 2]
    write_csv(tmp_path / "shuffled.csv", x[:, order], label, [COLUMNS[i] for i in order], {"id": range(60)})
    model = nnc.load_run(run)
    plain = model.evaluate("plain.csv")
    with pytest.warns(IgnoredColumns, match="read past the columns the model does not use: `id`"):
        shuffled = model.evaluate("shuffled.csv")
    assert shuffled == plain and plain["accuracy"] > 0.9
    result = cli("eval", "spec.nn", "--weights", run, "--data", "shuffled.csv")
    assert result.exit_code == 0, result.output
    assert result.output.count("note: shuffled.csv: read past the columns the model does not use: `id`") == 1
    # Through the exported model: the same classes, the target and the id read past.
    assert cli("export", run, "-o", "m.onnx").exit_code == 0
    outputs = [cli("predict", "m.onnx", "--data", name) for name in ("plain.csv", "shuffled.csv")]
    assert outputs[0].exit_code == outputs[1].exit_code == 0
    rows = [[line for line in o.output.splitlines() if not line.startswith("note:")] for o in outputs]
    assert rows[0] == rows[1]
    assert (
        "note: shuffled.csv: read past the columns the model does not use: `id`, `label`" in outputs[1].output
    )


def test_a_missing_column_is_located_at_the_header(run, tmp_path):
    x, label = blobs(np.random.default_rng(5), 10)
    write_csv(tmp_path / "short.csv", x[:, :3], label, ["a", "b", "d"])
    result = cli("eval", "spec.nn", "--weights", run, "--data", "short.csv")
    assert result.exit_code == 4
    assert (
        "short.csv:1:1: error[E401]: `short.csv` has no column `c`; the training data fed it to input `x`"
        in result.output
    )


def test_nothing_of_the_training_machine_s_paths_leaves_it(run, tmp_path):
    assert cli("export", run).exit_code == 0
    blob = (run / "model.onnx").read_bytes()
    assert str(tmp_path).encode() not in blob and b"spec.nn:" in blob
    info = json.loads((run / "model.json").read_text())
    assert info["spec"] == "../spec.nn"
    assert json.loads((run / "summary.json").read_text())["spec"] == "spec.nn"


def test_an_unfinished_run_is_refused_saying_how_to_finish_it(tmp_path):
    """Interrupted after its first epoch: a checkpoint, no weights yet. export, eval and report
    said only 'weights file ... does not exist'."""
    import os
    import signal

    class CtrlC(nnc.Callback):
        def on_epoch_end(self, epoch, logs):
            os.kill(os.getpid(), signal.SIGINT)

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt, match="continue with fit.resume="):
        nnc.load(ROOT / "specs" / "spirals.nn").fit(epochs=50, out=run, callbacks=[CtrlC()], verbose=0)
    assert (run / "checkpoint.npz").exists() and not (run / "weights.npz").exists()
    for command in (
        ["export", str(run)],
        ["eval", "--weights", str(run), str(ROOT / "specs" / "spirals.nn")],
    ):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 4, result.output
        assert f"the run in {run} has not finished" in result.output
        assert f"nnc train SPEC --resume {run}" in result.output
