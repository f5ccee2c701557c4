"""Learning-rate schedules at chosen epochs, against values worked out by hand."""

import json
import math

import pytest
from nnc.runtime.schedules import SCHEDULES, make_schedule
from nnc.runtime.schema import Named


def config(name: str, **overrides) -> Named:
    params = {a.name: a.default for a in SCHEDULES[name].args}
    params.update(overrides)
    return Named(name, params)


def lrs(schedule, epochs):
    return [schedule.lr(e) for e in epochs]


def test_no_schedule_is_constant():
    assert lrs(make_schedule(None, 0.1), [0, 1, 50]) == [0.1, 0.1, 0.1]
    assert lrs(make_schedule(config("constant"), 0.1), [0, 7]) == [0.1, 0.1]


def test_step():
    s = make_schedule(config("step", step_size=3, gamma=0.5), 0.8)
    assert lrs(s, [0, 2, 3, 5, 6, 9]) == pytest.approx([0.8, 0.8, 0.4, 0.4, 0.2, 0.1])


def test_exponential():
    s = make_schedule(config("exponential", gamma=0.9), 1.0)
    assert lrs(s, [0, 1, 2, 10]) == pytest.approx([1.0, 0.9, 0.81, 0.9**10])


def test_cosine():
    s = make_schedule(config("cosine", t_max=4, min_lr=0.1), 1.1)
    # min_lr + 1.0 * (1 + cos(pi e / 4)) / 2: 1.1, 0.1 + (1 + 0.7071) / 2, 0.6, ..., 0.1, then flat
    half = (1 + math.sqrt(0.5)) / 2
    assert lrs(s, [0, 1, 2, 3, 4, 5, 100]) == pytest.approx(
        [1.1, 0.1 + half, 0.6, 0.1 + (1 - half), 0.1, 0.1, 0.1]
    )


def test_warmup_then_the_schedule_from_its_own_epoch_zero():
    s = make_schedule(config("step", step_size=2, gamma=0.5, warmup=4, warmup_start=0.2), 1.0)
    # warm-up: 0.2 + 0.8 e / 4 -> 0.2, 0.4, 0.6, 0.8; then step from k = e - 4 = 0: 1, 1, 0.5, 0.5
    assert lrs(s, [0, 1, 2, 3, 4, 5, 6, 7]) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 0.5, 0.5])


def test_warmup_from_zero():
    s = make_schedule(config("constant", warmup=2), 0.5)
    assert lrs(s, [0, 1, 2, 3]) == pytest.approx([0.0, 0.25, 0.5, 0.5])


def test_cosine_after_warmup():
    s = make_schedule(config("cosine", t_max=2, warmup=1, warmup_start=0.5), 2.0)
    assert lrs(s, [0, 1, 2, 3, 4]) == pytest.approx([1.0, 2.0, 1.0, 0.0, 0.0])


def plateau(**overrides):
    return make_schedule(config("reduce_on_plateau", monitor="loss", **overrides), 1.0)


def test_reduce_on_plateau_waits_for_patience():
    s = plateau(factor=0.5, patience=2, min_delta=0.1)
    # best 1.0; 0.95 is no improvement (not below 1.0 - 0.1); 0.85 is; then 3 bad epochs
    losses = [1.0, 0.95, 0.85, 0.8, 0.9, 0.84, 0.5, 0.45, 0.44, 0.43]
    seen = []
    for epoch, loss in enumerate(losses):
        seen.append(s.lr(epoch))
        s.observe(epoch, {"loss": loss, "val_loss": 99.0})
    seen.append(s.lr(len(losses)))
    # bad epochs after 0.85: 0.8, 0.9, 0.84 -> the third exceeds patience 2: lr 0.5 from epoch 6;
    # 0.5 improves (best 0.85); 0.45, 0.44, 0.43 are within 0.1 of 0.5 -> 0.25 from epoch 10
    assert seen == pytest.approx([1.0] * 6 + [0.5] * 4 + [0.25])


def test_reduce_on_plateau_stops_at_min_lr():
    s = plateau(factor=0.1, patience=0, min_lr=0.05)
    for epoch in range(4):
        s.observe(epoch, {"loss": 1.0})
    # epoch 0 sets best; each later epoch is bad: 1 -> 0.1 -> max(0.01, 0.05) = 0.05 -> 0.05
    assert s.lr(4) == pytest.approx(0.05)


def test_reduce_on_plateau_ignores_warmup_epochs():
    s = make_schedule(config("reduce_on_plateau", monitor="loss", patience=0, factor=0.5, warmup=2), 1.0)
    for epoch, loss in enumerate([1.0, 2.0, 3.0, 3.0]):
        s.observe(epoch, {"loss": loss})
    # epochs 0, 1 are warm-up; epoch 2 sets best 3.0, epoch 3 is the first bad one
    assert lrs(s, [0, 1, 4]) == pytest.approx([0.0, 0.5, 0.5])


def test_reduce_on_plateau_names_a_missing_key():
    s = make_schedule(config("reduce_on_plateau"), 1.0)  # monitors val_loss
    with pytest.raises(ValueError, match="val_loss"):
        s.observe(0, {"loss": 1.0})


def test_state_round_trip():
    s = plateau(factor=0.5, patience=1)
    for epoch, loss in enumerate([1.0, 1.0, 1.0, 0.5, 0.6]):
        s.observe(epoch, {"loss": loss})
    saved = json.loads(json.dumps(s.state()))
    assert saved == {"lr": 0.5, "best": 0.5, "bad_epochs": 1}
    resumed = plateau(factor=0.5, patience=1)
    resumed.load_state(saved)
    for target in (s, resumed):
        target.observe(5, {"loss": 0.7})
    assert resumed.lr(6) == s.lr(6) == pytest.approx(0.25)
    assert json.dumps(plateau().state()) == '{"lr": 1.0, "best": null, "bad_epochs": 0}'


def test_stateless_schedules_round_trip_and_reject_foreign_state():
    s = make_schedule(config("step", step_size=1), 1.0)
    assert s.state() == {}
    s.load_state({})
    with pytest.raises(ValueError, match="expected entries"):
        s.load_state(plateau().state())
