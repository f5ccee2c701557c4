"""The Python API as a Keras user expects it: fit continues from the current weights (reset
starts over), prints the CLI's progress unless told not to, takes callbacks with Keras's hooks,
returns a History; summary() prints the table `nnc check` prints."""

from __future__ import annotations

import numpy as np
import pytest
from nnc.compiler.summary import format_summary, summarize
from test_train import SPEC, same_weights, weights, write_blobs

import nnc


@pytest.fixture
def spec(tmp_path):
    write_blobs(tmp_path)
    path = tmp_path / "blobs.nn"
    path.write_text(SPEC.replace("data {", "data { standardize = true\n"))
    return path


class StartsFrom(nnc.Callback):
    """Keeps what the training loop starts from: the weights and the optimizer's step count."""

    def on_train_begin(self, logs):
        self.weights = self.trainer.plan.params.to_dict()
        self.optimizer_steps = int(self.trainer.optimizer.state()["step"])


def test_a_second_fit_continues_from_the_weights_and_optimizer_of_the_first(spec, tmp_path):
    model = nnc.load(spec)
    first = model.fit(out=tmp_path / "a", epochs=3, verbose=0)
    start = StartsFrom()
    second = model.fit(out=tmp_path / "b", epochs=2, verbose=0, callbacks=[start])
    assert same_weights(start.weights, weights(tmp_path / "a"))  # not a fresh initialization
    assert start.optimizer_steps == first.training_summary["steps"] == 3 * 12  # Adam's t goes on
    assert second.history["loss"][0] < first.history["loss"][0]
    # The preprocessing is not fitted again, though the second fit trains on other data.
    write_blobs(tmp_path, seed=7)
    mean = weights(tmp_path / "b")["x.standardize.mean"]
    model.fit(out=tmp_path / "c", epochs=1, verbose=0)
    np.testing.assert_array_equal(weights(tmp_path / "c")["x.standardize.mean"], mean)


def test_reset_starts_over_exactly_as_the_first_fit_did(spec, tmp_path):
    model = nnc.load(spec)
    model.fit(out=tmp_path / "a", epochs=2, verbose=0)
    model.fit(out=tmp_path / "b", epochs=2, verbose=0)
    model.reset().fit(out=tmp_path / "c", epochs=2, verbose=0)
    assert same_weights(weights(tmp_path / "a"), weights(tmp_path / "c"))
    assert not same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))


def test_a_loaded_model_continues_from_its_weights(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "a", epochs=2, verbose=0)
    start = StartsFrom()
    nnc.load(spec).load(tmp_path / "a").fit(out=tmp_path / "b", epochs=1, verbose=0, callbacks=[start])
    assert same_weights(start.weights, weights(tmp_path / "a")) and start.optimizer_steps == 0


def test_the_history_holds_arrays_per_epoch_and_every_step_loss(spec, tmp_path):
    history = nnc.load(spec).fit(out=tmp_path / "run", epochs=3, verbose=0)
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert all(v.dtype == np.float64 and v.shape == (3,) for v in history.history.values())
    steps = history.step_losses
    assert steps.dtype == np.float64 and len(steps) == history.training_summary["steps"] == 36
    # An epoch's loss is the mean of its steps' losses, each weighted by its batch's rows.
    rows = np.array([16] * 11 + [180 - 16 * 11])
    for e in range(3):
        expected = (steps[12 * e : 12 * (e + 1)] * rows).sum() / rows.sum()
        assert history.history["loss"][e] == pytest.approx(expected, rel=1e-12)
    assert history.run_dir == tmp_path / "run"


class StopWhenGoodEnough(nnc.Callback):
    """A Keras-style callback: watches the logs, stops training at an epoch's end."""

    def __init__(self):
        self.batches, self.epochs = 0, []

    def on_batch_end(self, step, logs):
        self.batches += 1
        assert set(logs) == {"loss", "accuracy", "batch", "batches"}

    def on_epoch_end(self, epoch, logs):
        self.epochs.append(epoch)
        if logs["val_loss"] < 0.05:
            self.stop_training(f"good enough at epoch {epoch + 1}")


def test_a_callback_sees_batches_and_epochs_and_stops_training(spec, tmp_path, capsys):
    callback = StopWhenGoodEnough()
    model = nnc.load(spec)
    history = model.fit(out=tmp_path / "run", epochs=30, callbacks=[callback], verbose=1)
    assert callback.model is model and len(callback.epochs) < 30
    assert history.epoch == callback.epochs and callback.batches == 12 * len(callback.epochs)
    assert history.history["val_loss"][-1] < 0.05 <= history.history["val_loss"][:-1].min()
    assert f"good enough at epoch {len(callback.epochs)}" in capsys.readouterr().out


def test_verbose_prints_the_progress_of_nnc_train_or_nothing(spec, tmp_path, capsys):
    nnc.load(spec).fit(out=tmp_path / "quiet", epochs=2, verbose=0)
    assert capsys.readouterr() == ("", "")
    nnc.load(spec).fit(out=tmp_path / "run", epochs=2)  # verbose=1, as Keras
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines[:2]] == ["epoch 1/2", "epoch 2/2"]
    assert "val_accuracy" in lines[0] and lines[-1].startswith("finished 2 of 2 epochs")
    assert "\r" not in "".join(lines)  # not a terminal: lines, no bar


def test_summary_prints_the_check_table_and_returns_nothing(spec, capsys):
    model = nnc.load(spec)
    assert model.summary() is None
    out = capsys.readouterr().out
    assert out == format_summary(summarize(model.program)) and "parameters" in out


def test_an_unfitted_preprocessing_is_refused_not_turned_into_nan(tmp_path):
    """spirals standardizes its inputs: before any fit its statistics are 0 and 1-less, and
    predict gave NaN with no error. A network without preprocessing may still be used with its
    initial weights."""
    from conftest import ROOT
    from nnc.runtime.errors import RunError

    model = nnc.load(ROOT / "specs" / "spirals.nn")
    for use in (
        lambda: model.predict(np.zeros((2, 2), np.float32)),
        lambda: model.evaluate(),
        lambda: model.export(tmp_path / "m.onnx"),
        lambda: model.save(tmp_path / "saved"),
    ):
        with pytest.raises(RunError, match="preprocessing .* has not been fitted") as e:
            use()
        assert e.value.code == "E427" and "fit() it" in e.value.help
    assert not (tmp_path / "m.onnx").exists()
    plain = nnc.load("model m {\n input x: float32[2]\n dense(1) as y\n}\nloss mse(y, target=t)\n")
    assert plain.predict(np.zeros((3, 2), np.float32)).shape == (3, 1)


@pytest.mark.parametrize(
    ("arguments", "error", "said"),
    [
        ({"verbose": "1"}, ValueError, "fit(verbose=...) takes 0 (silent), 1 or 2. Received: '1'"),
        ({"verbose": -1}, ValueError, "Received: -1"),
        ({"callbacks": nnc.Callback()}, TypeError, "takes a list of nnc.Callback"),
        ({"callbacks": [object()]}, TypeError, "subclass nnc.Callback"),
    ],
)
def test_fit_refuses_its_own_arguments_by_name(tmp_path, arguments, error, said):
    from conftest import ROOT

    with pytest.raises(error) as e:
        nnc.load(ROOT / "specs" / "spirals.nn").fit(out=tmp_path / "run", **arguments)
    assert said in str(e.value)
    assert not (tmp_path / "run").exists()


def test_a_callback_that_raises_leaves_a_checkpoint_to_resume(tmp_path):
    """A user's callback fails at the end of epoch 2, between checkpoints (every 10 epochs):
    the two epochs were lost. They are checkpointed before the error goes on, and a resume
    trains on to the same weights as a run that never failed."""
    from conftest import ROOT

    spec = ROOT / "specs" / "spirals.nn"
    settings = ['train.checkpoint_every="10 epochs"', "train.shuffle=false"]

    class Fails(nnc.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                raise ValueError("a bug in my callback")

    with pytest.raises(ValueError, match="a bug in my callback"):
        nnc.load(spec, tuple(settings)).fit(out=tmp_path / "cut", epochs=4, callbacks=[Fails()], verbose=0)
    assert (tmp_path / "cut" / "checkpoint.npz").exists()
    resumed = nnc.load(spec, tuple(settings)).fit(resume=tmp_path / "cut", epochs=4, verbose=0)
    nnc.load(spec, tuple(settings)).fit(out=tmp_path / "whole", epochs=4, verbose=0)
    assert resumed.training_summary["epochs_run"] == 4
    assert same_weights(weights(tmp_path / "cut"), weights(tmp_path / "whole"))
