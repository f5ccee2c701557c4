"""`nnc export` and `nnc predict`: the exported model is valid, carries its metadata, and
computes what the NumPy runtime computes; the gate refuses a lowering that disagrees."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import ROOT
from nnc.runtime.errors import RunError
from nnc.runtime.files import read_npz
from nnc.runtime.ops import OPS

import nnc

SPECS = ROOT / "specs"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The digits MLP, briefly trained: (model, run directory)."""
    folder = tmp_path_factory.mktemp("digits")
    model = nnc.load(SPECS / "mlp_digits.nn", ("train.epochs=3",))
    model.fit(out=folder / "run")
    return model, folder / "run"


def test_exported_model_is_valid_and_carries_its_metadata(digits, tmp_path):
    model, run = digits
    path = model.export(tmp_path / "digits.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.producer_name == "nnc" and proto.ir_version == 10
    assert [o.version for o in proto.opset_import] == [17]
    assert [i.name for i in proto.graph.input] == ["image"] and [o.name for o in proto.graph.output] == [
        "probs"
    ]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    initializers = {i.name for i in proto.graph.initializer}
    assert initializers >= {"dense_1.weight", "dense_3.bias", "image.standardize.mean"}
    assert all(
        n.name.startswith(("image.standardize", "dense_", "relu_", "dropout_", "probs", "Identity"))
        for n in proto.graph.node
    )
    assert any("mlp_digits.nn:7:5" in n.doc_string for n in proto.graph.node)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert "nnc.standardize" not in meta  # the standardization is in the graph
    assert json.loads(meta["nnc.outputs"])["probs"] == {
        "kind": "multiclass",
        "target": "label",
        "logits": False,
    }
    assert json.loads(meta["nnc.summary"])["epochs_run"] == 3
    assert len(meta["nnc.spec_hash"]) == 16


def test_predict_through_onnxruntime_equals_the_runtime(digits, tmp_path):
    model, _ = digits
    path = model.export(tmp_path / "digits.onnx")
    x = model.read(model.program.train.data.test, model.root).arrays["image"]  # raw pixels
    for n in (1, 7, 360):
        np.testing.assert_allclose(nnc.predict(path, x[:n]), model.predict(x[:n]), rtol=1e-4, atol=1e-5)


def test_the_graph_takes_raw_features_with_the_training_statistics(digits, tmp_path):
    import onnxruntime

    model, run = digits
    path = model.export(tmp_path / "raw.onnx")
    x = model.read(model.program.train.data.test, model.root).arrays["image"][:9]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (probs,) = session.run(None, {"image": x})  # raw features straight in, no metadata needed
    np.testing.assert_allclose(probs, model.predict(x), rtol=1e-4, atol=1e-5)
    stats = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    trained = read_npz(run / "weights.npz")
    np.testing.assert_array_equal(stats["image.standardize.mean"], trained["image.standardize.mean"])
    assert (stats["image.standardize.std"] > 0).all()
    # The flag older scripts pass is accepted, and changes nothing.
    with pytest.warns(DeprecationWarning):
        again = model.export(tmp_path / "again.onnx", include_preprocessing=True)
    np.testing.assert_allclose(nnc.predict(again, x), probs, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "decoder"), [("autoencoder", "dense_4"), ("conv_autoencoder", "conv2d_transpose")]
)
def test_outputs_exports_the_encoder_of_an_autoencoder(name, decoder, tmp_path):
    model = nnc.load(SPECS / f"{name}.nn", ("train.epochs=2",))
    model.fit(out=tmp_path / "run")
    path = model.export(tmp_path / "encoder.onnx", outputs=("code",))
    proto = onnx.load(path)
    assert [o.name for o in proto.graph.output] == ["code"]
    assert not any(i.name.startswith(decoder) for i in proto.graph.initializer)  # no decoder
    x = model.dataset(None).arrays["image"][:5]
    np.testing.assert_allclose(nnc.predict(path, x), model.predict(x)["code"], rtol=1e-4, atol=1e-5)
    with pytest.raises(RunError) as e:
        model.export(tmp_path / "x.onnx", outputs=("codee",))
    assert e.value.code == "E533"


def test_opsets_in_range_export_and_others_are_refused(digits, tmp_path):
    model, _ = digits
    assert [o.version for o in onnx.load(model.export(tmp_path / "a.onnx", opset=21)).opset_import] == [21]
    with pytest.raises(RunError) as e:
        model.export(tmp_path / "b.onnx", opset=12)
    assert e.value.code == "E531" and "17..21" in e.value.message
    assert not (tmp_path / "b.onnx").exists()


def test_an_option_the_export_cannot_honour_is_a_usage_error(digits, tmp_path):
    _, run = digits
    for option in (["--opset", "16"], ["--outputs", "codee"]):
        done = nnc_cli("export", run, "-o", tmp_path / "m.onnx", *option, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert "error[E53" in done.stderr and not (tmp_path / "m.onnx").exists()


def test_a_closed_pipe_ends_quietly(digits, tmp_path):
    model, run = digits
    # The reader is gone before nnc writes its first line (it takes a second to get there).
    command = (
        f"{sys.executable} -m nnc eval {SPECS / 'mlp_digits.nn'} --weights {run} | true; "
        'echo "status ${PIPESTATUS[0]}" >&2'
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.stderr.strip() == "status 141"  # no traceback, no "internal error"


def test_a_closed_pipe_while_an_error_is_reported_ends_quietly_too(tmp_path):
    """`nnc train ... 2>&1 | head -2` on a refusal exited 1, "internal error", when head had
    left before the whole message was written."""
    (tmp_path / "bad.csv").write_text("x,label\n1,0\nabc,1\n")
    read, write = os.pipe()
    os.close(read)  # whoever read the output is gone before nnc writes a byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nnc", "train", str(SPECS / "spirals.nn"), "--data", "bad.csv"],
            cwd=tmp_path,
            stdout=write,
            stderr=write,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.returncode == 141


def test_the_gate_names_the_first_diverging_layer_and_writes_nothing(digits, tmp_path, monkeypatch):
    model, _ = digits
    wrong = dataclasses.replace(OPS["relu"], to_onnx=lambda g, x: g.node("Sigmoid", [x]))
    monkeypatch.setitem(OPS, "relu", wrong)
    with pytest.raises(RunError) as e:
        model.export(tmp_path / "bad.onnx")
    assert e.value.code == "E532"
    assert "first diverging layer is `relu_1`" in e.value.message
    assert not (tmp_path / "bad.onnx").exists()
    # --no-verify writes it anyway: the user asked.
    assert model.export(tmp_path / "bad.onnx", verify=False).exists()


def nnc_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "nnc", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_cli_export_then_predict_writes_classes_and_probabilities(digits, tmp_path):
    _, run = digits
    done = nnc_cli("export", run, "-o", tmp_path / "m.onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "verified against the NumPy runtime" in done.stderr
    done = nnc_cli(
        "predict", tmp_path / "m.onnx", "--data", SPECS / "data/digits_test.csv", "-o", "p.csv", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "class," + ",".join(f"p_{i}" for i in range(10)) and len(rows) == 361
    labels = [
        line.rsplit(",", 1)[1] for line in (SPECS / "data/digits_test.csv").read_text().splitlines()[1:]
    ]
    accuracy = np.mean([r.split(",")[0] == t for r, t in zip(rows[1:], labels, strict=True)])
    assert accuracy > 0.9
    done = nnc_cli(
        "predict", tmp_path / "m.onnx", "--data", SPECS / "data/digits_test.csv", "-o", "p.npy", cwd=tmp_path
    )
    assert np.load(tmp_path / "p.npy").shape == (360, 10)


def test_cli_predict_refusals(digits, tmp_path):
    model, _ = digits
    path = model.export(tmp_path / "m.onnx")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 65), np.float32))
    done = nnc_cli("predict", path, "--data", "wrong.npy", cwd=tmp_path)
    assert done.returncode == 4 and "error[E411]" in done.stderr and "[64]" in done.stderr
    done = nnc_cli("predict", path, "--data", "wrong.npy", "--provider", "tensorrt", cwd=tmp_path)
    # A provider this machine lacks is a usage error, like any option value that cannot be met.
    assert done.returncode == 2 and "error[E540]" in done.stderr and "available: " in done.stderr
    assert "cpu" in nnc_cli("predict", "--list-providers", cwd=tmp_path).stdout.split()
    with pytest.raises(RunError) as e:
        nnc.predict(path, np.zeros((2, 8, 8), np.float32))
    assert e.value.code == "E542" and "[N, 64]" in e.value.message and "[2, 8, 8]" in e.value.message


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    with pytest.raises(RunError) as e:
        nnc.predict(tmp_path / "m.onnx", np.zeros((1, 64), np.float32))
    assert e.value.code == "E426"


@pytest.mark.parametrize(
    "name",
    [
        "mlp_digits",
        "spirals",
        "regression",
        "autoencoder",
        "residual_mlp",
        "cnn_digits",
        "conv_autoencoder",
        "transformer",
        "lstm_sine",
        "multi_task",
    ],
)
def test_every_trainable_example_trains_exports_verifies_and_predicts(name, tmp_path):
    model = nnc.load(SPECS / f"{name}.nn", ("train.epochs=1",))
    model.fit(out=tmp_path / "run")
    path = model.export(tmp_path / f"{name}.onnx")  # the gate runs at batch sizes 1 and 7
    x = model.read(model.program.train.data.train, model.root).arrays
    inputs = {i.name: x[i.name] for i in model.program.graph.inputs}
    for n in (1, 5, 64):
        got = nnc.predict(path, {k: v[:n] for k, v in inputs.items()})
        want = model.predict({k: v[:n] for k, v in inputs.items()})
        for key in want if isinstance(want, dict) else [None]:
            a, b = (got[key], want[key]) if key else (got, want)
            assert a.shape == b.shape and a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
