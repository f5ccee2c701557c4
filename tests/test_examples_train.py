"""The shipped examples train on their shipped data to the quality the README promises. Each
uses its spec's seed; assertions are on accuracy and error, never on time."""

from __future__ import annotations

import numpy as np
from conftest import ROOT

import nnc

SPEC_DIR = ROOT / "specs"


def test_digits_mlp_reaches_97_percent_on_the_held_out_split(tmp_path):
    model = nnc.load(SPEC_DIR / "mlp_digits.nn", ("train.epochs=30",))
    model.fit(out=tmp_path / "run")
    logs = model.evaluate()  # the spec's test file: the fixed 20% held out
    assert logs["samples"] == 360
    assert logs["accuracy"] >= 0.97
    # predict takes raw pixels: the training split's standardization travels with the model.
    raw = model.read(model.program.train.data.test, model.root)
    predicted = model.predict(raw.arrays["image"]).argmax(axis=1)
    assert (predicted == raw.arrays["label"]).mean() == logs["accuracy"]


def test_two_spirals_are_separated(tmp_path):
    model = nnc.load(SPEC_DIR / "spirals.nn")
    summary = model.fit(out=tmp_path / "run").training_summary
    assert summary["final"]["val_accuracy"] >= 0.95


def test_regression_reaches_the_noise_floor(tmp_path):
    # curve.csv is sin(3x) plus noise of standard deviation 0.1: a perfect fit has mse 0.01.
    model = nnc.load(SPEC_DIR / "regression.nn", ("train.epochs=100",))
    summary = model.fit(out=tmp_path / "run").training_summary
    assert summary["final"]["val_rmse"] < 0.15
    assert model.history.history["loss"][-1] < 0.1 * model.history.history["loss"][0]


def test_autoencoder_learns_to_reconstruct(tmp_path):
    model = nnc.load(SPEC_DIR / "autoencoder.nn", ("train.epochs=20",))
    model.fit(out=tmp_path / "run")
    first, last = model.history.history["val_loss"][0], model.history.history["val_loss"][-1]
    assert last < 0.6 * first
    outputs = model.predict(model.dataset(None).arrays["image"][:5])
    assert outputs["reconstruction"].shape == (5, 64) and outputs["code"].shape == (5, 8)


def test_residual_mlp_with_plateau_schedule_trains(tmp_path):
    model = nnc.load(SPEC_DIR / "residual_mlp.nn", ("train.epochs=10",))
    summary = model.fit(out=tmp_path / "run").training_summary
    assert summary["final"]["val_accuracy"] > 0.9


def test_digits_cnn_reaches_98_percent_on_the_held_out_split(tmp_path):
    model = nnc.load(SPEC_DIR / "cnn_digits.nn")
    model.fit(out=tmp_path / "run")
    logs = model.evaluate()  # the spec's test file: the same fixed 20% as the MLP's
    assert logs["samples"] == 360
    assert logs["accuracy"] >= 0.98


def test_conv_autoencoder_learns_to_reconstruct(tmp_path):
    model = nnc.load(SPEC_DIR / "conv_autoencoder.nn", ("train.epochs=15",))
    model.fit(out=tmp_path / "run")
    assert model.history.history["loss"][-1] < 0.8 * model.history.history["loss"][0]
    outputs = model.predict(model.dataset(None).arrays["image"][:5])
    assert outputs["reconstruction"].shape == (5, 1, 8, 8) and outputs["code"].shape == (5, 16, 2, 2)


def test_transformer_counts_tokens_and_its_export_takes_other_lengths(tmp_path):
    model = nnc.load(SPEC_DIR / "transformer.nn")
    summary = model.fit(out=tmp_path / "run").training_summary
    assert summary["final"]["val_accuracy"] >= 0.98
    path = model.export(tmp_path / "counter.onnx")
    rng = np.random.default_rng(0)
    for batch, length in ((1, 9), (7, 23)):  # neither is the training length 16
        tokens = rng.integers(0, 32, (batch, length))
        np.testing.assert_allclose(nnc.predict(path, tokens), model.predict(tokens), rtol=1e-4, atol=1e-5)


def test_post_norm_encoder_blocks_train_and_export(tmp_path):
    spec = (SPEC_DIR / "transformer.nn").read_text().replace("encoder_block(", "post_norm_encoder_block(")
    (tmp_path / "post.nn").write_text(
        spec.replace('"blocks/', f'"{SPEC_DIR}/blocks/').replace('"data/', f'"{SPEC_DIR}/data/')
    )
    model = nnc.load(tmp_path / "post.nn", ("train.epochs=2",))
    assert sum(n.op == "layer_norm" for n in model.program.graph.nodes) == 5  # 2 per block, then 1
    model.fit(out=tmp_path / "run")
    assert model.history.history["loss"][-1] < model.history.history["loss"][0]
    model.export(tmp_path / "post.onnx")  # through the gate


def test_lstm_forecaster_beats_the_last_value_by_half(tmp_path):
    model = nnc.load(SPEC_DIR / "lstm_sine.nn")
    model.fit(out=tmp_path / "run")
    history = model.dataset(None).arrays
    naive = np.abs(history["history"][:, -1] - history["future"]).mean()  # 0.146: tomorrow = today
    best = min(model.history.history["val_mae"])
    assert best < 0.5 * naive
    assert model.evaluate()["mae"] < 0.5 * naive  # the restored best weights, on all the data


def test_multi_task_gru_classifies_the_channel_and_regresses_the_amount(tmp_path):
    model = nnc.load(SPEC_DIR / "multi_task.nn")
    model.fit(out=tmp_path / "run")
    assert model.evaluate()["accuracy"] >= 0.97
    data = model.dataset(None).arrays
    amount = model.predict({"series": data["series"], "profile": data["profile"]})["amount"]
    spread = np.abs(data["amount_value"] - data["amount_value"].mean()).mean()  # 0.63: the mean alone
    assert np.abs(amount - data["amount_value"]).mean() < 0.5 * spread
