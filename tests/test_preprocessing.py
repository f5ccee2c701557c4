"""Fitted preprocessing is an op: the compiler inserts `standardize` after the inputs the data
section names, its statistics are fitted on the training split and travel in the weights, so
a bare weights file, a checkpoint and an exported graph all carry the scaling. Files and runs
written before this still work."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from nnc.compiler.diagnostics import CompileError
from nnc.runtime.files import read_npz
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import Context
from nnc.runtime.train.run_dir import read_weights

import nnc
from nnc.cli import main

SPEC = """
model blobs {{
    input x: float32[4]
    dense(16) -> tanh
    dense(3) -> softmax as probs
}}
loss cross_entropy(probs, target=label)
optimizer adam(lr=0.05)
train {{ epochs = 5; batch_size = 16; metrics = [accuracy]; seed = 3 }}
data {{ train = "train.npz"; validation = "val.npz"; test = "val.npz"; {standardize} }}
"""


def blobs(rng, n, scale, shift):
    """Three blobs whose features sit far from 0 on very different scales."""
    label = rng.integers(0, 3, n)
    centers = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], np.float32)
    x = (centers[label] + 0.5 * rng.standard_normal((n, 4))) * scale + shift
    return {"x": x.astype(np.float32), "label": label.astype(np.int64)}


@pytest.fixture
def project(tmp_path):
    rng = np.random.default_rng(0)
    scale, shift = np.array([100, 0.01, 5, 1], np.float32), np.array([1000, -3, 0, 50], np.float32)
    train, val = blobs(rng, 240, scale, shift), blobs(rng, 90, scale, shift)
    np.savez(tmp_path / "train.npz", **train)
    np.savez(tmp_path / "val.npz", **val)
    spec = tmp_path / "blobs.nn"
    spec.write_text(SPEC.format(standardize="standardize = true"))
    (tmp_path / "plain.nn").write_text(SPEC.format(standardize=""))  # the same, unscaled
    return spec, train, val


def test_statistics_come_from_the_training_split_and_are_not_trained(project, tmp_path):
    spec, train, val = project
    model = nnc.load(spec)
    model.fit(out=tmp_path / "run")
    weights = read_npz(tmp_path / "run" / "weights.npz")
    mean, std = weights["x.standardize.mean"], weights["x.standardize.std"]
    assert mean.dtype == std.dtype == np.float32
    np.testing.assert_array_equal(mean, train["x"].mean(axis=0, dtype=np.float64).astype(np.float32))
    np.testing.assert_array_equal(std, train["x"].std(axis=0, dtype=np.float64).astype(np.float32))
    both = np.concatenate([train["x"], val["x"]])  # the validation file is not part of them
    assert not np.array_equal(mean, both.mean(axis=0, dtype=np.float64).astype(np.float32))
    # Five epochs of Adam later they are still exactly the statistics: no optimizer touched them.
    checkpoint = read_npz(tmp_path / "run" / "checkpoint.npz")
    np.testing.assert_array_equal(checkpoint["x.standardize.mean"], mean)


def test_a_bare_weights_file_evaluates_like_the_run_directory(project, tmp_path):
    spec, _, val = project
    nnc.load(spec).fit(out=tmp_path / "run")
    from_run = nnc.load(spec).load(tmp_path / "run").evaluate()
    from_file = nnc.load(spec).load(tmp_path / "run" / "weights.npz").evaluate()
    assert from_file == from_run and from_run["accuracy"] > 0.9
    # Without its statistics the same network is far worse: the scaling is really applied.
    unscaled = nnc.load(tmp_path / "plain.nn")
    bare = {k: v for k, v in read_weights(tmp_path / "run").items() if "standardize" not in k}
    unscaled.plan.params.load(bare, path="weights")
    assert unscaled.evaluate(val)["accuracy"] < 0.7
    result = CliRunner().invoke(
        main, ["eval", str(spec), "--weights", str(tmp_path / "run" / "weights.npz"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] == from_run["accuracy"]


def test_nnc_check_shows_the_preprocessing_as_a_layer(project):
    spec, _, _ = project
    result = CliRunner().invoke(main, ["check", str(spec)])
    row = next(line.split() for line in result.output.splitlines() if "x.standardize" in line)
    assert row == ["x.standardize", "standardize", "[N,", "4]", "8"]
    assert "4 trainable" not in result.output and "8 non-trainable" in result.output


def test_standardize_is_not_written_as_a_layer(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text("model m {\n    input x: float32[4]\n    standardize\n}")
    d = info.value.diagnostics[0]
    assert (d.code, d.message, d.span.line) == ("E209", "`standardize` is preprocessing, not a layer", 3)
    assert "data { standardize = [INPUT] }" in d.help


def test_a_target_that_is_a_standardized_input_is_compared_standardized(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "x.npz", x=(rng.standard_normal((64, 6)) * 50 + 300).astype(np.float32))
    spec = tmp_path / "ae.nn"
    spec.write_text(
        "model ae {\n    input x: float32[6]\n    dense(3) -> dense(6) as y\n}\n"
        "loss mse(y, target=x)\ntrain { epochs = 3; seed = 1 }\n"
        'data { train = "x.npz"; standardize = true }\n'
    )
    model = nnc.load(spec)
    assert model.program.train.losses[0].target_value == "x.standardize"
    model.fit(out=tmp_path / "run")
    x = np.load(tmp_path / "x.npz")["x"]
    mean, std = (model.plan.params.values[f"x.standardize.{k}"] for k in ("mean", "std"))
    expected = np.mean((model.predict(x) - (x - mean) / std) ** 2)
    assert model.evaluate()["loss"] == pytest.approx(expected, rel=1e-5)
    assert expected < 2  # a reconstruction of standardized values, not of values near 300


def test_an_onnx_file_exported_before_this_change_still_predicts(project, tmp_path):
    """Older files took standardized inputs and carried the statistics in their metadata."""
    spec, train, val = project
    plain = nnc.load(tmp_path / "plain.nn")
    plain.fit(out=tmp_path / "plain")
    path = plain.export(tmp_path / "old.onnx")
    mean, std = train["x"].mean(axis=0), train["x"].std(axis=0)
    proto = onnx.load(path)
    onnx.helper.set_model_props(
        proto,
        {
            **{p.key: p.value for p in proto.metadata_props},
            "nnc.standardize": json.dumps({"x": {"mean": mean.tolist(), "std": std.tolist()}}),
        },
    )
    onnx.save(proto, path)
    expected = plain.predict(((val["x"] - mean) / std).astype(np.float32))
    np.testing.assert_allclose(nnc.predict(path, val["x"]), expected, rtol=1e-4, atol=1e-5)


def test_a_run_directory_written_before_this_change_still_loads(project, tmp_path):
    """Older runs kept the statistics in model.json and not in weights.npz."""
    spec, _, val = project
    nnc.load(spec).fit(out=tmp_path / "run")
    run = tmp_path / "run"
    weights = read_npz(run / "weights.npz")
    del weights["model:record"]  # older weights files had none
    info = json.loads((run / "model.json").read_text())
    info["standardize"] = {
        f"standardize.x.{k}": weights.pop(f"x.standardize.{k}").tolist() for k in ("mean", "std")
    }
    (run / "model.json").write_text(json.dumps(info))
    np.savez(run / "weights.npz", **weights)
    old = nnc.load(spec).load(run)
    np.testing.assert_array_equal(
        old.predict(val["x"]), nnc.load(spec).load(tmp_path / "run").predict(val["x"])
    )
    assert old.evaluate()["accuracy"] > 0.9


@pytest.mark.parametrize("op", [op for op in OPS.values() if op.fit], ids=lambda op: op.name)
def test_fit_gives_each_parameter_in_its_dtype(op):
    """float32, or strings for a vocabulary; never trained, and described for `nnc check`."""
    for sample in op.samples(np.random.default_rng(0)):
        x = sample.inputs[0]
        x = x.astype(np.float32) if x.dtype.kind == "f" else x
        specs = op.params(x.shape, **sample.attrs)
        fitted = op.fit(x, **sample.attrs)
        assert [f.shape for f in fitted] == [s.shape for s in specs]
        for f, s in zip(fitted, specs, strict=True):
            assert f.dtype == np.float32 if s.dtype == "float32" else f.dtype.kind == "U"
        assert not any(s.trainable for s in specs)
        assert op.describe_fit is None or op.describe_fit(*fitted, **sample.attrs)


def test_standardize_centers_and_scales_and_only_centers_a_constant_feature():
    op = OPS["standardize"]
    x = (np.random.default_rng(0).standard_normal((500, 3)) * [2, 5, 0] + [1, -4, 7]).astype(np.float32)
    mean, std = op.fit(x)
    assert std[2] == 1 and mean[2] == 7  # a constant feature: std below 1e-8 becomes 1
    y, _ = op.forward(Context(), x, mean, std)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y[:, :2].std(axis=0), 1, atol=1e-4)


# ---- lookup and impute: values computed by hand --------------------------------------------------
UNUSED = "\x00unused"  # an entry no value was fitted to


def test_lookup_learns_values_by_frequency_and_maps_the_rest_to_zero():
    op = OPS["lookup"]
    x = np.array([["b"], ["a"], ["b"], [""], ["c"], ["a"], ["b"]])
    (vocabulary,) = op.fit(x, max_tokens=4, output="index")
    # b 3x, then a 2x, then "" and c once each: "" sorts first and takes the last entry
    assert vocabulary.tolist() == [UNUSED, "b", "a", ""]
    ids, _ = op.forward(
        Context(), np.array([["a"], ["c"], ["b"], [""], ["zz"]]), vocabulary, max_tokens=4, output="index"
    )
    assert ids.dtype == np.int64 and ids.ravel().tolist() == [2, 0, 1, 3, 0]
    one_hot, _ = op.forward(Context(), np.array([["a"], ["zz"]]), vocabulary, max_tokens=4, output="one_hot")
    assert one_hot.dtype == np.float32 and one_hot.tolist() == [[[0, 0, 1, 0]], [[1, 0, 0, 0]]]
    (roomy,) = op.fit(x, max_tokens=8, output="index")
    assert roomy.tolist() == [UNUSED, "b", "a", "", "c", UNUSED, UNUSED, UNUSED]
    assert (
        op.describe_fit(roomy, max_tokens=8, output="index")
        == "4 values: b, a, (missing), c (0: any other; 3 unused)"
    )


def test_impute_fills_with_the_mean_median_or_a_constant_and_marks_what_was_missing():
    op = OPS["impute"]
    nan = np.nan
    x = np.array([[1, nan, nan], [2, 4, nan], [6, 5, nan]], np.float32)
    attrs = {"value": -1.0, "indicator": False}
    assert op.fit(x, strategy="mean", **attrs)[0].tolist() == [3, 4.5, -1]  # never present: value
    assert op.fit(x, strategy="median", **attrs)[0].tolist() == [2, 4.5, -1]
    assert op.fit(x, strategy="constant", **attrs)[0].tolist() == [-1, -1, -1]
    fill = np.array([3, 4.5, -1], np.float32)
    y, _ = op.forward(Context(), x, fill, strategy="mean", value=-1.0, indicator=True)
    assert y.dtype == np.float32
    assert y.tolist() == [[1, 4.5, -1, 0, 1, 1], [2, 4, -1, 0, 0, 1], [6, 5, -1, 0, 0, 1]]


def test_a_marker_fitted_as_a_value_by_an_older_nnc_is_still_the_missing_category():
    """Vocabularies fitted before markers were one category hold `NA` itself: every marker
    still finds it, so an older model's predictions do not change."""
    op = OPS["lookup"]
    vocabulary = np.array([UNUSED, "b", "NA", UNUSED])
    x = np.array([["NA"], [""], ["null"], ["b"], ["zz"]])
    ids, _ = op.forward(None, x, vocabulary, max_tokens=4, output="index")
    assert ids.ravel().tolist() == [2, 2, 2, 1, 0]
