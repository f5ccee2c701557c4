"""The metadata of an exported file: what export writes, predict reads back unchanged, from one
definition of the keys; a damaged value is a located refusal, a missing one a default."""

import json

import numpy as np
import pytest
from nnc.runtime.errors import RunError
from nnc.runtime.onnx.metadata import Metadata, OutputKind

FULL = Metadata(
    spec_hash="0123456789abcdef",
    labels={"species": ["Adelie", "Chinstrap", "Gentoo"]},
    outputs={"probs": OutputKind("multiclass", "species", False), "y": OutputKind("regression", "t", False)},
    targets={"species": {"dtype": "int64", "shape": [], "classes": 3}},
    summary={"epochs_run": 3, "final": {"loss": 0.25}},
    standardize={"x": (np.array([1.5, -2.0], np.float32), np.array([0.5, 3.0], np.float32))},
)


def test_what_export_writes_predict_reads_back():
    props = FULL.to_props()
    assert all(key.startswith("nnc.") and isinstance(value, str) for key, value in props.items())
    back = Metadata.from_props(props, "m.onnx")
    assert (back.spec_hash, back.labels, back.outputs, back.targets, back.summary) == (
        FULL.spec_hash,
        FULL.labels,
        FULL.outputs,
        FULL.targets,
        FULL.summary,
    )
    assert back.standardize.keys() == {"x"}
    for got, want in zip(back.standardize["x"], FULL.standardize["x"], strict=True):
        assert got.dtype == np.float32 and np.array_equal(got, want)


def test_a_file_without_nnc_metadata_reads_as_defaults():
    assert Metadata.from_props({}, "other.onnx") == Metadata()
    assert "nnc.standardize" not in Metadata().to_props()


@pytest.mark.parametrize(
    "props",
    [
        {"nnc.labels": "{not json"},
        {"nnc.outputs": json.dumps({"probs": {"kind": "multiclass"}})},
        {"nnc.outputs": json.dumps(["probs"])},
        {"nnc.labels": json.dumps([["a", "b"]])},
        {"nnc.standardize": json.dumps({"x": {"mean": [1.0]}})},
    ],
)
def test_damaged_metadata_is_refused_naming_the_file(props):
    with pytest.raises(RunError) as e:
        Metadata.from_props(props, "damaged.onnx")
    assert e.value.code == "E541" and e.value.path == "damaged.onnx"
