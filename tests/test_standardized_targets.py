"""`data { standardize_targets = true }`: a regression network learns standardized targets, while
its prediction — metrics, predict, the exported graph — is in the target's own units."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from nnc.compiler.diagnostics import CompileError
from nnc.runtime.onnx.gate import ATOL, RTOL

import nnc

SPEC = """
model curve {
    input x: float32[1]
    dense(32) -> tanh
    dense(1) as y
}
loss mse(y, target=target)
optimizer adam(lr=0.01)
train { epochs = 40; batch_size = 32; metrics = [mae]; seed = 1 }
data { train = "d.npz"; SETTING }
"""


@pytest.fixture
def folder(tmp_path):
    """A target far from 0 and 1, as a price or the diabetes progression is: 1000 +- 300."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (400, 1)).astype(np.float32)
    y = (1000 + 300 * np.sin(2 * x) + 10 * rng.standard_normal((400, 1))).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, target=y)
    return tmp_path


def trained(folder, setting: str):
    (folder / "s.nn").write_text(SPEC.replace("SETTING", setting))
    model = nnc.load(folder / "s.nn")
    model.fit(out=folder / setting.split()[0], verbose=0)
    return model


def test_the_network_learns_standard_units_and_answers_in_the_target_s(folder):
    data = np.load(folder / "d.npz")
    x, target = data["x"], data["target"]
    model = trained(folder, "standardize_targets = true")
    weights = model.plan.params.values
    np.testing.assert_allclose(weights["y.mean"], target.mean(0), rtol=1e-6)
    np.testing.assert_allclose(weights["y.std"], target.std(0), rtol=1e-6)
    prediction = model.predict(x)
    logs = model.evaluate(str(folder / "d.npz"))
    # metrics in the target's units; the loss is the one trained, on standardized targets
    assert logs["mae"] == pytest.approx(np.abs(prediction - target).mean(), rel=1e-5)
    assert logs["loss"] == pytest.approx((((prediction - target) / weights["y.std"]) ** 2).mean(), rel=1e-4)
    without = trained(folder, "standardize = false")  # the same network, raw targets
    assert logs["mae"] < 0.25 * without.evaluate(str(folder / "d.npz"))["mae"]


def test_the_exported_graph_answers_in_the_target_s_units(folder):
    model = trained(folder, "standardize_targets = [target]")
    path = model.export(folder / "m.onnx")  # through the gate
    x = np.load(folder / "d.npz")["x"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(["y"], {"x": x})
    np.testing.assert_allclose(y, model.predict(x), rtol=RTOL, atol=ATOL)
    assert abs(y.mean() - 1000) < 100


def test_only_regression_targets_from_data_can_be_standardized(folder):
    spec = SPEC.replace("SETTING", "standardize_targets = [x]")
    with pytest.raises(CompileError) as e:
        nnc.load(spec)
    (d,) = [d for d in e.value.diagnostics if d.code.startswith("E")]
    assert d.code == "E303" and "cannot standardize target `x`" in d.message
    assert d.help == "regression targets: target"


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "softmax"])
def test_a_prediction_of_bounded_values_cannot_learn_standardized_targets(activation):
    """`dense(1) -> relu as y` cannot output the negative half of standardized targets: the
    review's run trained with no word to a val_mae of 92 where a linear output reached 10."""
    spec = SPEC.replace("dense(1) as y", f"dense(1) -> {activation} as y")
    spec = spec.replace("SETTING", "standardize_targets = true")
    with pytest.raises(CompileError) as e:
        nnc.load(spec)
    (d,) = [d for d in e.value.diagnostics if d.code.startswith("E")]
    assert d.code == "E303" and f"comes out of {activation}, whose values are" in d.message
    assert d.span.line == 5 and "dense without an activation" in d.help
    nnc.load(SPEC.replace("dense(1) as y", f"dense(1) -> {activation} as y").replace("SETTING", ""))
