"""What `nnc check` accepts, `nnc train` runs. Generated from the schemas: every optimizer and
schedule argument at the edges of its range, every initializer on every kind of parameter,
every metric with every kind of loss, every monitor, and the data overrides. Each combination
either fails to compile with located diagnostics, or compiles and trains a step. An exception
of any other kind — what the command line calls an internal error — fails the test."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from nnc.compiler.diagnostics import CompileError
from nnc.runtime.errors import RunError
from nnc.runtime.init import INITIALIZERS
from nnc.runtime.metrics import METRICS
from nnc.runtime.optim import OPTIMIZERS
from nnc.runtime.schedules import SCHEDULES
from nnc.runtime.schema import Bool, Choice, Float, Int, Optional, Table, show
from nnc.runtime.train import Callback

import nnc

# One model per kind of output: (model body, loss line). The data hold all their targets.
KINDS = {
    "multiclass": ("dense(8) -> relu\n    dense(3) -> softmax as p", "loss cross_entropy(p, target=label)"),
    "binary": ("dense(8) -> relu\n    dense(1) -> sigmoid as p", "loss binary_cross_entropy(p, target=flag)"),
    "regression": ("dense(8) -> relu\n    dense(2) as p", "loss mse(p, target=value)"),
    "two outputs": (
        "dense(8) -> relu as h\n    h -> dense(3) -> softmax as p\n    h -> dense(2) as q\n    output p, q",
        "loss cross_entropy(p, target=label)\nloss mse(q, target=value)",
    ),
}


def spec(kind="multiclass", *, optimizer="", train="", data="", body=None) -> str:
    model, loss = KINDS[kind]
    return (
        f"model m {{\n    input x: float32[4]\n    {body or model}\n}}\n{loss}\n{optimizer}\n"
        f"train {{ epochs = 2; batch_size = 8; seed = 1; {train} }}\n"
        f'data {{ train = "train.npz"; {data} }}\n'
    )


def values(kind) -> list:
    """Values at the edges of a kind's range, and one inside."""
    if isinstance(kind, Optional):
        return [None, *values(kind.kind)]
    if isinstance(kind, Bool):
        return [True, False]
    if isinstance(kind, Choice):
        return list(kind.names)
    if isinstance(kind, Int):
        low = kind.min if kind.min is not None else 0
        return sorted({low, low + 1, kind.max if kind.max is not None else low + 5})
    if isinstance(kind, Float):
        low = 0.0 if kind.min is None else kind.min
        high = 10.0 if kind.max is None else kind.max
        edges = [low + (1e-6 if kind.min_open else 0.0), high - (1e-6 if kind.max_open else 0.0)]
        return sorted({*edges, (low + high) / 2})
    if isinstance(kind, Table):
        return []  # a table (the schedule) is walked on its own
    raise AssertionError(f"no values for {kind}")


def optimizer_cases():
    for name, signature in OPTIMIZERS.items():
        for arg in signature.args:
            for value in values(arg.kind):
                yield spec(optimizer=f"optimizer {name}({arg.name}={show(value)})")
        yield spec(optimizer=f"optimizer {name}()")
    yield spec(optimizer="optimizer sgd(nesterov=true)")  # without momentum
    yield spec(optimizer="optimizer sgd(nesterov=true, momentum=0.9)")


def schedule_cases():
    required = {"step": "step_size=2", "exponential": "gamma=0.5", "cosine": "t_max=3"}
    for name, signature in SCHEDULES.items():
        base = required.get(name, "")
        for arg in signature.args:
            for value in values(arg.kind):
                args = ", ".join(a for a in (base, f"{arg.name}={show(value)}") if a)
                for train in ("", "validation = 0.25"):
                    yield spec(optimizer=f"optimizer adam(schedule={name}({args}))", train=train)


# Every kind of parameter, with the keyword that chooses its initializer.
PARAMETERS = [
    ("dense(8, init={})", "weight, 2-D"),
    ("dense(8, bias_init={})", "bias"),
    ("reshape((1, 2, 2)) -> conv2d(2, 2, padding=same, init={}) -> flatten", "conv kernel"),
    ("reshape((1, 2, 2)) -> conv2d(2, 2, padding=same, bias_init={}) -> flatten", "conv bias"),
    ("reshape((2, 2)) -> lstm(4, init={})", "recurrent input weight"),
    ("reshape((2, 2)) -> gru(4, recurrent_init={})", "recurrent weight"),
    ("layer_norm(scale_init={})", "normalization scale"),
    ("reshape((1, 4)) -> batch_norm(scale_init={}) -> flatten", "batch norm scale"),
]


def initializer_cases():
    for name, (layer, _) in itertools.product(INITIALIZERS, PARAMETERS):
        arg = {"constant": "constant(0.1)"}.get(name, name)
        yield spec(body=f"{layer.format(arg)}\n    dense(3) -> softmax as p")


def metric_cases():
    names = [*METRICS, "top_k(2)", "top_k(1)"]
    for kind, metric in itertools.product(KINDS, names):
        yield spec(kind, train=f"metrics = [{metric}]")
    for kind, pair in itertools.product(KINDS, itertools.combinations(names, 2)):
        yield spec(kind, train=f"metrics = [{', '.join(pair)}]")


def monitor_cases():
    monitors = ["loss", "accuracy", "top_k", "top_k_2", "mse", "p_accuracy", "q_mse", "nope"]
    for kind, monitor, mode, validation in itertools.product(
        KINDS, monitors, ("auto", "min", "max"), (True, False)
    ):
        name = f"val_{monitor}" if validation else monitor
        metrics = (
            "metrics = [accuracy, top_k(2), top_k(3), mse]" if kind != "regression" else "metrics = [mse]"
        )
        train = f"{metrics}; early_stopping(monitor={name}, mode={mode}, patience=0)"
        yield spec(kind, train=train + ("; validation = 0.25" if validation else ""))


def data_cases():
    """The spec's validation file, split or none, with a val_ monitor or not, each trained on
    its own data and with --data."""
    for data, train in itertools.product(
        ('validation = "val.npz"', ""), ("validation = 0.25", "", "early_stopping(monitor=val_loss)")
    ):
        yield spec(data=data, train=train)


CASES = {
    "optimizer": list(optimizer_cases()),
    "schedule": list(schedule_cases()),
    "initializer": list(initializer_cases()),
    "metric": list(metric_cases()),
    "monitor": list(monitor_cases()),
    "data": list(data_cases()),
}


class OneStep(Callback):
    def on_batch_end(self, step, logs):
        self.stop_training("one step")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("combinations")
    rng = np.random.default_rng(0)
    for name, n in (("train.npz", 24), ("val.npz", 8), ("other.npz", 16)):
        label = rng.integers(0, 3, n)
        np.savez(
            folder / name,
            x=rng.standard_normal((n, 4)).astype(np.float32),
            label=label,
            flag=(label > 0).astype(np.float32)[:, None],
            value=rng.standard_normal((n, 2)).astype(np.float32),
        )
    return folder


def check_then_train(folder, text: str, data=None) -> str:
    path = folder / "spec.nn"
    path.write_text(text)
    try:
        model = nnc.load(path)
    except CompileError as e:
        errors = [d for d in e.diagnostics if d.severity == "error"]
        assert errors and all(d.span is not None for d in errors), e
        return "refused"
    model.fit(data, out=folder / "run", overwrite=True, callbacks=[OneStep()])
    return "trained"


@pytest.mark.parametrize("group", CASES)
def test_every_combination_is_refused_located_or_trains(folder, group, monkeypatch):
    monkeypatch.chdir(folder)
    outcomes = {"refused": 0, "trained": 0}
    for text in CASES[group]:
        data_runs = [None, "other.npz"] if group == "data" else [None]
        for data in data_runs:
            try:
                outcomes[check_then_train(folder, text, data)] += 1
            except RunError as e:  # a located refusal at run time is not a bug; say which
                pytest.fail(f"{e}\n--- check accepted, training refused:\n{text}")
            except Exception as e:  # noqa: BLE001 - this is what the test is for
                pytest.fail(f"internal error {type(e).__name__}: {e}\n--- for:\n{text}")
    assert outcomes["trained"] > 0  # the walk reaches training, not only refusals
