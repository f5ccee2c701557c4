"""runtime/threads.py: row-wise work split over threads runs every row exactly once, gives the
same bits as one call, and passes on what a piece raises; the optimizer built on it updates
identically with one thread or several."""

import numpy as np
import pytest
from nnc.runtime import threads
from nnc.runtime.optim import make_optimizer
from nnc.runtime.schema import Named


@pytest.mark.parametrize("count", ["1", "2", "4"])
def test_every_row_runs_once_whatever_the_thread_count(monkeypatch, count):
    monkeypatch.setenv("OMP_NUM_THREADS", count)
    monkeypatch.setattr(threads, "PIECE", 64)  # many small pieces
    seen = np.zeros(1000, np.int64)

    def work(start, stop):
        seen[start:stop] += 1

    threads.split(1000, 1, work)
    assert (seen == 1).all()


def test_a_piece_that_raises_raises_in_the_caller(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setattr(threads, "PIECE", 10)

    def work(start, stop):
        if start <= 500 < stop:
            raise ValueError("piece 500")

    with pytest.raises(ValueError, match="piece 500"):
        threads.split(1000, 1, work)


def test_the_thread_count_is_blass_else_the_cores(monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert threads.count() == 3
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert threads.count() >= 1


@pytest.mark.parametrize(
    "name, params",
    [
        ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.01, "amsgrad": True}),
        ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.0}),
        ("rmsprop", {"rho": 0.9, "momentum": 0.5, "epsilon": 1e-8, "centered": True, "weight_decay": 0.1}),
        ("adagrad", {"initial_accumulator": 0.1, "epsilon": 1e-10, "weight_decay": 0.0}),
    ],
)
def test_the_optimizer_update_is_the_same_bits_on_one_thread_or_several(monkeypatch, name, params):
    monkeypatch.setattr(threads, "PIECE", 1000)
    rng = np.random.default_rng(0)
    start = rng.standard_normal(10_007).astype(np.float32)
    grads = [rng.standard_normal(10_007).astype(np.float32) for _ in range(3)]
    results = []
    for count in ("1", "4"):
        monkeypatch.setenv("OMP_NUM_THREADS", count)
        optimizer = make_optimizer(Named(name, {"lr": 0.01, **params}), start.size)
        weights = start.copy()
        for g in grads:
            optimizer.step(weights, g.copy(), 0.01)
        results.append((weights, optimizer.state()))
    (w1, s1), (w4, s4) = results
    assert np.array_equal(w1, w4)
    assert all(np.array_equal(s1[k], s4[k]) for k in s1)
    assert not np.array_equal(w1, start)


def test_the_convolution_copies_its_windows_the_same_on_several_threads(monkeypatch):
    from nnc.runtime.ops import OPS
    from nnc.runtime.ops.base import Context

    conv = OPS["conv2d"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 16, 9, 8)).astype(np.float32)  # 16 channels: the one-copy path
    weight, bias = rng.standard_normal((5, 16, 3, 3)).astype(np.float32), np.zeros(5, np.float32)
    attrs = {"filters": 5, "kernel": (3, 3), "stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1)}
    attrs |= {"groups": 1, "bias": True}
    outputs = []
    for count, piece in (("1", 1 << 15), ("3", 16)):
        monkeypatch.setenv("OMP_NUM_THREADS", count)
        monkeypatch.setattr(threads, "PIECE", piece)  # one piece per output row
        outputs.append(conv.forward(Context(training=False), x, weight, bias, **attrs)[0])
    assert np.array_equal(*outputs)
