"""`--tensorboard`: the metrics, live, as TensorBoard event files, read back here with
TensorBoard's own reader; a resumed run shows each step once."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_train import SPEC, write_blobs

import nnc

pytest.importorskip("tensorboardX", reason="pip install 'nnc[tensorboard]'")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="pip install tensorboard"
)


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    events = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.fixture
def spec(tmp_path):
    write_blobs(tmp_path)
    (tmp_path / "blobs.nn").write_text(SPEC)
    return tmp_path / "blobs.nn"


def test_the_curves_of_a_run_resumed_midway_read_back_once_per_step(spec, tmp_path):
    run = tmp_path / "run"
    nnc.load(spec).fit(out=run, steps=30, tensorboard=True, verbose=0)  # 12 steps an epoch
    nnc.load(spec).fit(resume=run, tensorboard=True, verbose=0)
    history = nnc.load_run(run).training_summary  # the finished run
    metrics = np.genfromtxt(run / "metrics.csv", delimiter=",", names=True)
    train, validation = scalars(run / "tensorboard" / "train"), scalars(run / "tensorboard" / "validation")
    assert {"epoch_loss", "epoch_accuracy", "batch_loss", "learning_rate"} <= set(train)
    assert set(validation) == {"epoch_loss", "epoch_accuracy"}
    steps = [step for step, _ in train["epoch_loss"]]
    assert steps == [12 * e for e in range(1, 7)] and history["steps"] == 72
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], metrics["loss"], rtol=1e-6)
    np.testing.assert_allclose(
        [v for _, v in validation["epoch_accuracy"]], metrics["val_accuracy"], rtol=1e-6
    )
    assert [step for step, _ in train["batch_loss"]] == list(range(1, 73))  # each step once


def test_without_tensorboardx_the_extra_is_named_before_anything_is_written(spec, tmp_path, monkeypatch):
    from nnc.runtime.errors import UsageError

    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(UsageError) as e:
        nnc.load(spec).fit(out=tmp_path / "run", tensorboard=True, verbose=0)
    assert (e.value.code, e.value.help) == ("E550", "pip install 'nnc[tensorboard]'")
    assert not (tmp_path / "run").exists()
