"""Training end to end through the Python API: the loss falls, runs are deterministic, resume
is exact, early stopping restores the best weights, and a non-finite loss is caught."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from nnc.compiler.diagnostics import CompileError
from nnc.runtime.errors import RunError
from nnc.runtime.files import read_npz
from nnc.runtime.train import Callback, Interrupted
from nnc.runtime.train.progress import Progress
from nnc.runtime.train.run_dir import read_weights

import nnc

SPEC = """
model blobs {
    input x: float32[4]
    dense(16) -> tanh
    dropout(0.1)
    dense(3) -> softmax as probs
}
loss cross_entropy(probs, target=label)
optimizer adam(lr=0.01)
train {
    epochs = 6
    batch_size = 16
    validation = 0.25
    metrics = [accuracy]
    seed = 3
}
data { train = "blobs.npz" }
"""


def write_blobs(folder, n=240, seed=0):
    """Three Gaussian blobs in 4-D: easy to separate, so the loss must fall."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    centers = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], np.float32)
    x = (centers[label] + 0.5 * rng.standard_normal((n, 4))).astype(np.float32)
    np.savez(folder / "blobs.npz", x=x, label=label.astype(np.int64))


@pytest.fixture
def spec(tmp_path):
    write_blobs(tmp_path)
    path = tmp_path / "blobs.nn"
    path.write_text(SPEC)
    return path


def weights(run) -> dict:
    return read_weights(run)  # the parameters, without the record of what they were trained with


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_training_reduces_the_loss_and_learns(spec, tmp_path):
    summary = nnc.load(spec).fit(out=tmp_path / "run").training_summary
    history = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert history[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds")
    assert len(history) == 1 + 6
    losses = [float(line.split(",")[1]) for line in history[1:]]
    assert losses[-1] < 0.5 * losses[0]
    assert summary["final"]["val_accuracy"] > 0.9
    assert summary["epochs_run"] == 6 and summary["seed"] == 3
    assert len(summary["data_fingerprint"]) == 64


def test_same_seed_gives_bit_identical_weights(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "a")
    nnc.load(spec).fit(out=tmp_path / "b")
    nnc.load(spec).fit(out=tmp_path / "c", seed=4)
    assert same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert not same_weights(weights(tmp_path / "a"), weights(tmp_path / "c"))


class InterruptAt(Progress):
    """Sends the process a real SIGINT (as Ctrl-C does) at a chosen step."""

    def __init__(self, epoch: int, batch: int):
        super().__init__(open(os.devnull, "w"), verbosity=0)
        self.at = (epoch, batch)

    def step(self, epoch, epochs, batch, batches, loss):
        if (epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("where", [(3, 5), (2, 12)], ids=["mid-epoch", "end-of-epoch"])
def test_interrupted_run_resumes_bit_identically(spec, tmp_path, where):
    nnc.load(spec).fit(out=tmp_path / "whole")
    with pytest.raises(Interrupted):
        nnc.load(spec).fit(out=tmp_path / "cut", progress=InterruptAt(*where))
    assert not (tmp_path / "cut" / "weights.npz").exists()
    assert (tmp_path / "cut" / "checkpoint.npz").exists()
    summary = nnc.load(spec).fit(resume=tmp_path / "cut").training_summary
    assert same_weights(weights(tmp_path / "whole"), weights(tmp_path / "cut"))
    whole = (tmp_path / "whole" / "metrics.csv").read_text().splitlines()
    cut = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    # Every logged number but the timing column is identical too.
    assert [r.rsplit(",", 1)[0] for r in whole] == [r.rsplit(",", 1)[0] for r in cut]
    assert summary["epochs_run"] == 6


def test_resuming_a_finished_run_says_so_and_more_epochs_continue(spec, tmp_path, capsys):
    nnc.load(spec).fit(out=tmp_path / "run", epochs=3)
    before = weights(tmp_path / "run")
    progress = Progress(open(os.devnull, "w"), verbosity=0)
    messages = []
    progress.info = messages.append
    nnc.load(spec).fit(resume=tmp_path / "run", epochs=3, progress=progress)
    assert "finished 3 of 3 epochs; nothing to resume: to train on, ask for more than its 3" in messages[0]
    assert same_weights(before, weights(tmp_path / "run"))
    # Asking for more epochs trains on, exactly as one longer run would.
    nnc.load(spec).fit(resume=tmp_path / "run", epochs=6)
    nnc.load(spec).fit(out=tmp_path / "long")
    assert same_weights(weights(tmp_path / "run"), weights(tmp_path / "long"))


def test_resuming_with_a_changed_spec_is_refused(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "run", epochs=2)
    changed = tmp_path / "changed.nn"
    changed.write_text(SPEC.replace("dense(16)", "dense(24)"))
    with pytest.raises(RunError) as e:
        nnc.load(changed).fit(resume=tmp_path / "run", epochs=4)
    assert e.value.code == "E514"
    assert "+  dense_1: float32[N, 24]" in e.value.message
    assert "-  dense_1: float32[N, 16]" in e.value.message


def test_resuming_with_other_data_is_refused(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "run", epochs=2)
    write_blobs(tmp_path, seed=1)  # the same file name, other samples
    with pytest.raises(RunError) as e:
        nnc.load(spec).fit(resume=tmp_path / "run", epochs=4)
    assert e.value.code == "E513" and "differ from the data the run started with" in e.value.message


class Recorder(Callback):
    """Records every event it hears, and stops training at a step or an epoch's end."""

    def __init__(self, stop_at_step=None, stop_after_epoch=None):
        self.events, self.stop_at_step, self.stop_after_epoch = [], stop_at_step, stop_after_epoch

    def on_train_begin(self, logs):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, step, logs):
        assert np.isfinite(logs["loss"]) and 1 <= logs["batch"] <= logs["batches"] == 12
        assert 0 <= logs["accuracy"] <= 1  # the epoch's running metrics
        if step == self.stop_at_step:
            self.stop_training(f"stopped by the recorder at step {step}")

    def on_epoch_end(self, epoch, logs):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")
        if epoch == self.stop_after_epoch:
            self.stop_training("stopped by the recorder")

    def on_train_end(self, logs):
        self.events.append(f"train_end {self.trainer.state.epoch} {self.trainer.interrupted} {sorted(logs)}")


def test_a_callback_hears_every_event_and_stops_training_at_an_epoch_end(spec, tmp_path):
    recorder = Recorder(stop_after_epoch=1)
    summary = nnc.load(spec).fit(out=tmp_path / "run", callbacks=[recorder]).training_summary
    logs = "['accuracy', 'epoch', 'loss', 'lr', 'seconds', 'val_accuracy', 'val_loss']"
    assert recorder.events == [
        "train_begin",
        "epoch_begin 0",
        f"epoch_end 0 {logs}",
        "epoch_begin 1",
        f"epoch_end 1 {logs}",
        f"train_end 2 False {logs}",
    ]
    assert summary["epochs_run"] == 2 and summary["stopped_early"] is True
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 1 + 2
    assert (tmp_path / "run" / "weights.npz").exists()
    # The run is finished: resuming it, even with more epochs, trains nothing more.
    before = weights(tmp_path / "run")
    again = nnc.load(spec).fit(resume=tmp_path / "run", epochs=10).training_summary
    assert again["epochs_run"] == 2 and same_weights(before, weights(tmp_path / "run"))


def test_a_callback_stops_training_after_a_step_inside_an_epoch(spec, tmp_path):
    model = nnc.load(spec)
    summary = model.fit(out=tmp_path / "run", callbacks=[Recorder(stop_at_step=15)]).training_summary
    assert summary["steps"] == 15 and summary["epochs_run"] == 1  # 12 steps per epoch
    assert len(model.history.epoch) == 1
    checkpoint = read_npz(tmp_path / "run" / "checkpoint.npz")
    meta = json.loads(str(checkpoint["state:meta"]))
    assert (meta["batch"], meta["finished"]) == (3, "stopped by the recorder at step 15")


@pytest.mark.parametrize(
    ("setting", "value", "key"),
    [("lr", -1, "optimizer.lr"), ("epochs", -2, "train.epochs"), ("batch_size", 0, "train.batch_size")],
)
def test_fit_settings_are_checked_like_set_overrides(spec, tmp_path, setting, value, key):
    """fit(lr=-1) trained eleven epochs of gradient ascent, fit(epochs=-2) wrote a finished
    run of random weights and fit(batch_size=0) was a raw ValueError: each is now the very
    diagnostic `--set` gives, and no run directory is made."""
    with pytest.raises(CompileError) as from_fit:
        nnc.load(spec).fit(out=tmp_path / "run", **{setting: value})
    with pytest.raises(CompileError) as from_set:
        nnc.load(spec, (f"{key}={value}",))
    assert [d.code for d in from_fit.value.diagnostics] == ["E303"]
    assert str(from_fit.value) == str(from_set.value)
    assert f"--set {key}:1:1: error[E303]" in str(from_fit.value) and f"{setting}={value}" in str(
        from_fit.value
    )
    assert not (tmp_path / "run").exists()


def test_fit_settings_apply_like_the_spec_and_need_no_optimizer_in_it(tmp_path):
    write_blobs(tmp_path)
    spec = tmp_path / "plain.nn"
    spec.write_text(SPEC.replace("optimizer adam(lr=0.01)\n", ""))
    model = nnc.load(spec)
    summary = model.fit(out=tmp_path / "run", epochs=2, lr=0.01, batch_size=20, seed=5).training_summary
    assert summary["epochs_run"] == 2 and summary["seed"] == 5 and summary["steps"] == 2 * 9
    program = (tmp_path / "run" / "program.ir").read_text()
    assert "optimizer adam(lr=0.01, " in program and "batch_size=20" in program
    assert model.program.train.epochs == 6  # the model's own program is unchanged


def test_early_stopping_restores_the_best_weights(tmp_path):
    write_blobs(tmp_path, n=120)
    text = SPEC.replace(
        "seed = 3", "seed = 3\n early_stopping(monitor=val_loss, patience=2, restore_best=true)"
    )
    # A learning rate this high makes validation loss bounce, so the best epoch is not the last.
    spec = tmp_path / "es.nn"
    spec.write_text(text.replace("epochs = 6", "epochs = 30").replace("lr=0.01", "lr=0.3"))
    model = nnc.load(spec)
    summary = model.fit(out=tmp_path / "run").training_summary
    val_loss = model.history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert summary["best_epoch"] == best + 1
    assert val_loss[best] == pytest.approx(summary["best"])
    # The weights left in the model and in weights.npz are those of the best epoch: their
    # validation loss is the best one, not the last one.
    checkpoint = read_npz(tmp_path / "run" / "checkpoint.npz")
    final = weights(tmp_path / "run")
    assert same_weights(
        final, {k.removeprefix("best:"): v for k, v in checkpoint.items() if k.startswith("best:")}
    )
    if best + 1 != len(val_loss):
        assert not same_weights(final, {k: v for k, v in checkpoint.items() if ":" not in k})


def test_a_non_finite_loss_names_the_first_bad_layer_and_keeps_the_checkpoint(spec, tmp_path):
    model = nnc.load(spec)
    model.fit(out=tmp_path / "run", epochs=1)
    # A huge learning rate on a relu network without clipping overflows within a few steps.
    text = SPEC.replace("tanh", "relu").replace("softmax as probs", "relu -> dense(3) -> softmax as probs")
    spec.write_text(text.replace("adam(lr=0.01)", "sgd(lr=1e30)"))
    with pytest.raises(RunError) as e:
        nnc.load(spec).fit(out=tmp_path / "bad")
    assert e.value.code == "E501"
    assert "epoch 1, step" in e.value.message
    assert e.value.layer is not None and e.value.layer.startswith("dense_")
    assert not (tmp_path / "bad" / "weights.npz").exists()


def test_python_api_round_trip(spec, tmp_path):
    model = nnc.load(spec)
    model.fit(out=tmp_path / "run")
    data = np.load(tmp_path / "blobs.npz")
    probs = model.predict(data["x"][:7])
    assert probs.shape == (7, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    logs = model.evaluate(tmp_path / "blobs.npz")
    assert logs["samples"] == 240 and logs["accuracy"] > 0.9
    assert np.array(logs["confusion"]["probs"]).sum() == 240
    saved = model.save(tmp_path / "saved")
    again = nnc.load(SPEC.replace('"blobs.npz"', f'"{tmp_path / "blobs.npz"}"')).load(saved)
    np.testing.assert_array_equal(again.predict(data["x"][:7]), probs)


def test_init_weights_that_do_not_match_are_refused(spec, tmp_path):
    np.savez(tmp_path / "bad.npz", **{"dense_1.weight": np.zeros((5, 16), np.float32)})
    with pytest.raises(RunError) as e:
        nnc.load(spec).fit(out=tmp_path / "run", init_weights=tmp_path / "bad.npz")
    assert e.value.code == "E420"
    assert "dense_1.weight has shape [5, 16], the model needs [4, 16]" in e.value.message
    assert "missing dense_1.bias" in e.value.message


def test_targets_can_come_from_a_differently_named_column_with_string_labels(tmp_path):
    rows = ["a,b,kind"] + [f"{i % 3},{(i * 7) % 5},{['cat', 'dog', 'fox'][i % 3]}" for i in range(60)]
    (tmp_path / "animals.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "animals.nn"
    spec.write_text(
        "model m {\n input x: float32[2]\n dense(8) -> relu\n dense(3) -> softmax as p\n}\n"
        "loss cross_entropy(p, target=label)\noptimizer adam(lr=0.05)\n"
        "train { epochs = 30; batch_size = 8; metrics = [accuracy] }\n"
    )
    model = nnc.load(spec)
    model.columns = {"label": "kind"}
    model.fit(tmp_path / "animals.csv", out=tmp_path / "run")
    assert model.labels == {"label": ["cat", "dog", "fox"]}
    assert model.evaluate(tmp_path / "animals.csv")["accuracy"] == 1.0
    # The mapping travels with the run: a fresh model reads it back.
    again = nnc.load(spec).load(tmp_path / "run")
    assert again.labels == {"label": ["cat", "dog", "fox"]}


def test_binary_classifier_with_fused_sigmoid_and_global_penalties(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:] > 0).astype(np.float32)  # XOR of the signs
    np.savez(tmp_path / "xor.npz", x=x, y=y)
    spec = tmp_path / "xor.nn"
    spec.write_text(
        "model xor {\n input x: float32[2]\n dense(16) -> tanh\n dense(1) -> sigmoid as p\n}\n"
        "loss binary_cross_entropy(p, target=y)\n"
        "optimizer adam(lr=0.03, clip_norm=1.0, schedule=cosine(t_max=60, warmup=3))\n"
        "train { epochs = 60; batch_size = 20; metrics = [accuracy, mse]; l2 = 1e-4 }\n"
        'data { train = "xor.npz" }\n'
    )
    model = nnc.load(spec)
    model.fit(out=tmp_path / "run")
    assert model.history.history["accuracy"][-1] > 0.9
    assert model.history.history["lr"][0] < model.history.history["lr"][3]  # warm-up, then cosine decay
    assert model.history.history["lr"][-1] < model.history.history["lr"][3]
    probabilities = model.predict(x[:4])
    assert probabilities.shape == (4, 1) and ((probabilities > 0) & (probabilities < 1)).all()


def test_a_non_finite_loss_keeps_the_last_good_checkpoint(spec, tmp_path):
    spec.write_text(SPEC.replace("seed = 3", 'seed = 3\n    checkpoint_every = "1 epoch"'))
    model = nnc.load(spec)

    class Corrupt(Progress):
        """Overwrites a weight with NaN during epoch 2, as a diverging update would."""

        def __init__(self):
            super().__init__(open(os.devnull, "w"), verbosity=0)

        def step(self, epoch, epochs, batch, batches, loss):
            if (epoch, batch) == (2, 3):
                model.plan.params.values["dense_1.weight"][0, 0] = np.nan

    with pytest.raises(RunError) as e:
        model.fit(out=tmp_path / "run", progress=Corrupt())
    assert e.value.code == "E501"
    assert "epoch 2, step 16 (batch 4 of 12)" in e.value.message
    assert e.value.layer == "dense_1"
    checkpoint = read_npz(tmp_path / "run" / "checkpoint.npz")
    assert '"epoch": 1' in str(checkpoint["state:meta"])
    assert all(np.isfinite(v).all() for k, v in checkpoint.items() if k != "state:meta")


def test_a_validation_file_replaces_the_split(tmp_path):
    write_blobs(tmp_path)
    rng = np.random.default_rng(9)
    label = rng.integers(0, 3, 50)
    np.savez(tmp_path / "val.npz", x=rng.standard_normal((50, 4)).astype(np.float32), label=label)
    spec = tmp_path / "v.nn"
    spec.write_text(
        SPEC.replace("    validation = 0.25\n", "").replace(
            'data { train = "blobs.npz" }', 'data { train = "blobs.npz"; validation = "val.npz" }'
        )
    )
    summary = nnc.load(spec).fit(out=tmp_path / "run").training_summary
    # All 240 training samples are used (15 batches of 16), and val_ metrics exist.
    assert summary["steps"] == 6 * 15
    assert "val_accuracy" in summary["final"]


def test_run_directory_refusals(spec, tmp_path):
    nnc.load(spec).fit(out=tmp_path / "run", epochs=1)
    with pytest.raises(RunError) as e:
        nnc.load(spec).fit(out=tmp_path / "run", epochs=1)
    assert e.value.code == "E510" and "--overwrite" in e.value.help
    nnc.load(spec).fit(out=tmp_path / "run", epochs=1, overwrite=True)
    # A finished run whose summary was damaged: reading it is a located refusal.
    (tmp_path / "run" / "summary.json").write_text("{not json")
    with pytest.raises(RunError) as e:
        nnc.load(spec).fit(resume=tmp_path / "run", epochs=1)
    assert e.value.code == "E424"
    # A torn weights file.
    (tmp_path / "torn.npz").write_bytes((tmp_path / "run" / "weights.npz").read_bytes()[:100])
    with pytest.raises(RunError) as e:
        nnc.load(spec).load(tmp_path / "torn.npz")
    assert e.value.code == "E421"


def test_metrics_without_a_loss_to_measure_are_refused(tmp_path):
    write_blobs(tmp_path)
    spec = tmp_path / "noloss.nn"
    spec.write_text(
        "model m {\n input x: float32[4]\n dense(3) as y\n}\n"
        'train { metrics = [mae] }\ndata { train = "blobs.npz" }\n'
    )
    with pytest.raises(RunError) as e:
        nnc.load(spec).fit(out=tmp_path / "run")
    assert e.value.code == "E502"


def test_freed_memory_is_retained_between_steps_on_glibc():
    # The trainer's allocator settings (runtime/memory.py); glibc is what Linux CI runs on.
    import platform

    from nnc.runtime.memory import retain_freed_memory

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert retain_freed_memory() is expected


def test_each_metric_gets_its_own_column(tmp_path):
    write_blobs(tmp_path)
    spec = tmp_path / "k.nn"
    spec.write_text(SPEC.replace("metrics = [accuracy]", "metrics = [top_k(2), top_k(3), accuracy]"))
    nnc.load(spec).fit(out=tmp_path / "run", epochs=1)
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == [
        "epoch", "loss", "top_k_2", "top_k_3", "accuracy",
        "val_loss", "val_top_k_2", "val_top_k_3", "val_accuracy", "lr", "seconds",
    ]  # fmt: skip


def test_other_training_data_keep_the_spec_s_validation_file(tmp_path):
    write_blobs(tmp_path)
    np.savez(tmp_path / "val.npz", **np.load(tmp_path / "blobs.npz"))
    write_blobs(tmp_path, seed=1)
    (tmp_path / "blobs.npz").rename(tmp_path / "other.npz")
    write_blobs(tmp_path)
    spec = tmp_path / "v.nn"
    text = SPEC.replace("validation = 0.25", "early_stopping(monitor=val_accuracy, patience=50)")
    spec.write_text(
        text.replace('data { train = "blobs.npz" }', 'data { train = "blobs.npz"; validation = "val.npz" }')
    )
    model = nnc.load(spec)
    model.fit(tmp_path / "other.npz", out=tmp_path / "run", epochs=2)
    assert "val_accuracy" in model.history.history and model.training_summary["monitor"] == "val_accuracy"


def write_named_blobs(folder, name="named.csv", labels=("fox", "cat", "dog"), seed=0):
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, 90)
    x = np.eye(4)[kind] * 2 + 0.5 * rng.standard_normal((90, 4))
    rows = [",".join([*(f"{v:.4f}" for v in x[i]), labels[kind[i]]]) for i in range(90)]
    (folder / name).write_text("\n".join(["a,b,c,d,label", *rows]) + "\n")


NAMED = SPEC.replace('data { train = "blobs.npz" }', 'data { train = "named.csv" }')


def test_check_shows_how_string_labels_are_numbered(tmp_path):
    from click.testing import CliRunner

    from nnc.cli import main

    write_named_blobs(tmp_path)
    (tmp_path / "named.nn").write_text(NAMED)
    result = CliRunner().invoke(main, ["check", str(tmp_path / "named.nn")])
    assert result.exit_code == 0 and "  classes     label: cat=0, dog=1, fox=2\n" in result.output


def test_class_weights_by_label_name_weigh_those_classes(tmp_path):
    write_named_blobs(tmp_path)
    by_name = tmp_path / "by_name.nn"
    by_name.write_text(NAMED.replace("target=label)", "target=label, class_weights={fox: 3.0, cat: 0.5})"))
    by_index = tmp_path / "by_index.nn"
    by_index.write_text(NAMED.replace("target=label)", "target=label, class_weights=[0.5, 1.0, 3.0])"))
    model = nnc.load(by_name)
    assert model.program.train.losses[0].attrs["class_weights"] == (0.5, 1.0, 3.0)  # cat, dog, fox
    model.fit(out=tmp_path / "a")
    nnc.load(by_index).fit(out=tmp_path / "b")
    assert same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    # A name the data lack: refused at check time, at the loss.
    wrong = tmp_path / "wrong.nn"
    wrong.write_text(NAMED.replace("target=label)", "target=label, class_weights={wolf: 2.0})"))
    with pytest.raises(CompileError) as e:
        nnc.load(wrong)
    d = e.value.diagnostics[0]
    assert (
        d.code == "E303" and "`wolf`, which the training data do not have" in d.message and d.span.line == 8
    )


def test_class_weights_by_name_meet_data_given_at_training_time(tmp_path):
    write_named_blobs(tmp_path)
    write_named_blobs(tmp_path, "wolves.csv", labels=("wolf", "cat", "dog"))
    spec = tmp_path / "late.nn"
    text = NAMED.replace('train = "named.csv"', 'train = "later.csv"')
    spec.write_text(text.replace("target=label)", "target=label, class_weights={fox: 3.0})"))
    model = nnc.load(spec)  # the file is not there yet: the names wait for the data
    assert model.program.train.losses[0].attrs["class_weights"] == {"fox": 3.0}
    model.fit(tmp_path / "named.csv", out=tmp_path / "run", epochs=1)
    assert model.plan.losses[0].attrs["class_weights"] == (1.0, 1.0, 3.0)
    with pytest.raises(RunError) as e:
        nnc.load(spec).fit(tmp_path / "wolves.csv", out=tmp_path / "run2", epochs=1)
    assert e.value.code == "E410" and "`fox`" in e.value.message


def test_max_steps_stops_inside_an_epoch_and_resuming_continues_exactly(spec, tmp_path):
    """12 steps an epoch: 50 steps end 2 batches into epoch 5; resumed to 100 steps, and then
    to the end of the spec's 6 epochs, the weights are those of runs never stopped."""
    summary = nnc.load(spec).fit(out=tmp_path / "cut", steps=50, verbose=0).training_summary
    assert (summary["steps"], summary["epochs_run"], summary["stopped_early"]) == (50, 4, False)
    meta = json.loads(str(read_npz(tmp_path / "cut" / "checkpoint.npz")["state:meta"]))
    assert (meta["step"], meta["batch"], meta["finished"]) == (50, 2, "finished 50 of 50 steps")
    assert nnc.load(spec).fit(resume=tmp_path / "cut", steps=50, verbose=0).training_summary["steps"] == 50
    nnc.load(spec).fit(resume=tmp_path / "cut", steps=100, verbose=0)
    nnc.load(spec).fit(out=tmp_path / "whole100", steps=100, verbose=0)
    assert same_weights(weights(tmp_path / "cut"), weights(tmp_path / "whole100"))
    nnc.load(spec).fit(resume=tmp_path / "cut", verbose=0)  # no step limit: the spec's epochs
    nnc.load(spec).fit(out=tmp_path / "whole", verbose=0)
    assert same_weights(weights(tmp_path / "cut"), weights(tmp_path / "whole"))


@pytest.mark.parametrize(
    ("every", "saves"),
    [
        (None, 1),  # the default, 30 seconds: a run of a second checkpoints once, at its end
        ('"1 epoch"', 6 + 1),
        ('"4 epochs"', 1 + 1),
        ('"5 steps"', 72 // 5 + 1),  # inside epochs too
        ('"0.000001s"', 72 + 1),  # after every step (an epoch's last: at the epoch's end)
    ],
)
def test_checkpoints_come_at_the_spec_s_cadence_and_at_the_end(spec, tmp_path, monkeypatch, every, saves):
    from nnc.runtime.train.run_dir import RunDir

    if every is not None:
        spec.write_text(SPEC.replace("seed = 3", f"seed = 3\n    checkpoint_every = {every}"))
    written = []
    original = RunDir.save_checkpoint
    monkeypatch.setattr(
        RunDir,
        "save_checkpoint",
        lambda self, w, x, meta: (written.append(meta["step"]), original(self, w, x, meta)),
    )
    nnc.load(spec).fit(out=tmp_path / "run", verbose=0)
    assert len(written) == saves and written[-1] == 72


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('checkpoint_every = "5 hours"', 'a cadence: "30s", "5m", "2 epochs" or "500 steps"'),
        ('checkpoint_every = "1.5 epochs"', "a whole number of epochs or steps"),
        ("max_steps = 0", "max_steps"),
    ],
)
def test_a_bad_cadence_or_step_limit_is_a_located_spec_error(spec, setting, message):
    spec.write_text(SPEC.replace("seed = 3", f"seed = 3\n    {setting}"))
    with pytest.raises(CompileError) as e:
        nnc.load(spec)
    (d,) = e.value.diagnostics
    assert d.code == "E303" and d.span.line == 16 and message in d.message + (d.help or "")


def test_metrics_keep_every_digit_and_the_time_adds_up_over_resumes(spec, tmp_path):
    import csv
    import time

    class Slow(Callback):
        def on_batch_end(self, step, logs):
            if step == 3:
                time.sleep(0.3)

    first = nnc.load(spec).fit(out=tmp_path / "run", steps=20, verbose=0, callbacks=[Slow()])
    assert first.training_summary["seconds"] >= 0.3
    second = nnc.load(spec).fit(resume=tmp_path / "run", steps=40, verbose=0)
    assert second.training_summary["seconds"] >= 0.3 + min(second.history["seconds"])  # both parts
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    written = [float(r["val_loss"]) for r in rows]
    history = json.loads(str(read_npz(tmp_path / "run" / "checkpoint.npz")["state:meta"]))["history"]
    assert written == [h["val_loss"] for h in history]  # exactly: not 6 digits
