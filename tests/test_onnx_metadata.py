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
)


def test_what_export_writes_predict_reads_back():
    props = FULL.to_props()
    assert all(key.startswith("nnc.") and isinstance(value, str) for key, value in props.items())
    assert Metadata.from_props(props, "m.onnx") == FULL


def test_the_standardization_of_older_files_is_read():
    """Files exported before the standardization was part of the graph carried it here."""
    props = {"nnc.standardize": json.dumps({"x": {"mean": [1.5, -2.0], "std": [0.5, 3.0]}})}
    mean, std = Metadata.from_props(props, "old.onnx").standardize["x"]
    assert mean.dtype == std.dtype == np.float32
    assert mean.tolist() == [1.5, -2.0] and std.tolist() == [0.5, 3.0]


def test_a_file_without_nnc_metadata_reads_as_defaults():
    assert Metadata.from_props({}, "other.onnx") == Metadata()


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
    assert e.value.code == "E426" and e.value.path == "damaged.onnx"
