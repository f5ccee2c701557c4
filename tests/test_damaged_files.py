"""A damaged file is a data error (exit 4) that names the file and what is wrong with it, never
an internal error: model.json, a checkpoint's metadata, an ONNX file and its metadata, and an
ONNX model from another tool."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from conftest import ROOT

import nnc
from nnc.cli import main

SPEC = ROOT / "specs" / "spirals.nn"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    model = nnc.load(SPEC, ("train.epochs=2",))
    model.fit(out=folder / "run")
    model.export(folder / "good.onnx")
    np.savez(folder / "x.npz", point=np.zeros((3, 2), np.float32))
    return folder


def refused(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 4, result.output
    assert "internal error" not in result.output
    return result.output


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda info: "{not json", "cannot read model.json"),
        (
            lambda info: json.dumps({**info, "labels": ["cat", "dog"]}),
            "`labels` does not hold what it should",
        ),
        (
            lambda info: json.dumps({**info, "columns": {"point": [1, 2]}}),
            "`columns` does not hold what it should",
        ),
    ],
)
def test_a_damaged_model_json(trained, tmp_path, change, problem):
    run = tmp_path / "run"
    run.mkdir()
    for p in (trained / "run").iterdir():
        if p.is_file() and p.name != ".lock":
            (run / p.name).write_bytes(p.read_bytes())
    info = json.loads((run / "model.json").read_text())
    (run / "model.json").write_text(change(info))
    for args in (
        ["export", run, "-o", tmp_path / "m.onnx"],
        ["eval", SPEC, "--weights", run, "--set", "train.epochs=2"],
    ):
        output = refused(*args)
        assert "model.json" in output and problem in output


@pytest.mark.parametrize(
    ("meta", "problem"),
    [("{not json", "state:meta is damaged"), (json.dumps({"format": 1, "step": 3}), "`epoch` is missing")],
)
def test_a_damaged_checkpoint(trained, tmp_path, meta, problem):
    run = tmp_path / "run"
    run.mkdir()
    for p in (trained / "run").iterdir():
        if p.is_file() and p.name not in (".lock", "summary.json"):
            (run / p.name).write_bytes(p.read_bytes())
    with np.load(run / "checkpoint.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["state:meta"] = np.array(meta)
    np.savez(run / "checkpoint.npz", **arrays)
    output = refused("train", SPEC, "--resume", run, "--epochs", "3")
    assert "checkpoint.npz" in output and problem in output


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("nnc.labels", "{not json", "`nnc.labels` is not valid JSON"),
        ("nnc.labels", json.dumps({"label": [0, 1]}), "`nnc.labels` is damaged"),
        ("nnc.outputs", json.dumps({"probs": {"kind": "softmax"}}), "`nnc.outputs` is damaged"),
        ("nnc.targets", json.dumps({"label": {"dtype": "float64", "shape": []}}), "`nnc.targets` is damaged"),
        ("nnc.columns", json.dumps({"point": "x,y"}), "`nnc.columns` is damaged"),
    ],
)
def test_damaged_or_foreign_onnx_metadata(trained, tmp_path, key, value, problem):
    proto = onnx.load(trained / "good.onnx")
    props = {p.key: p.value for p in proto.metadata_props}
    onnx.helper.set_model_props(proto, {**props, key: value})
    onnx.save(proto, tmp_path / "m.onnx")
    output = refused("predict", tmp_path / "m.onnx", "--data", trained / "x.npz")
    assert "error[E426]" in output and "m.onnx" in output and problem in output


def test_a_truncated_onnx_file(trained, tmp_path):
    (tmp_path / "cut.onnx").write_bytes((trained / "good.onnx").read_bytes()[:200])
    assert "error[E426]: cannot load" in refused(
        "predict", tmp_path / "cut.onnx", "--data", trained / "x.npz"
    )


def test_a_model_of_another_tool_with_a_float64_input(tmp_path):
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, ["N", 2])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, ["N", 2])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "f64.onnx")
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 2)))
    output = refused("predict", tmp_path / "f64.onnx", "--data", tmp_path / "x.npz")
    assert "error[E426]: input `x` has type tensor(double), which nnc cannot feed" in output
