"""Forward and backward kernels of the registered ops, generated from the registry: every op with
kernels is run on the samples it carries, and each sample checks that the shape rule gives the
real shape, float32 stays float32, backward matches float64 central differences and gradients
nobody wants are skipped. Hand-computed values follow, for what a consistent but wrong kernel
would pass (a gradient check cannot see a wrong forward)."""

import inspect
import math

import numpy as np
import pytest
from conftest import as_float32, n_data_inputs
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import Context
from nnc.runtime.ops.gelu import erf

SEED = 1234  # dropout's mask: every forward of one check draws the same one
EPS = 1e-6  # central-difference step in float64
CASES = [
    pytest.param(op, sample, id=f"{op.name}-{i}")
    for op in OPS.values()
    for i, sample in enumerate(op.samples(np.random.default_rng(0)))
]


def ctx(needs_grad=(), training=True):
    return Context(training=training, rng=np.random.default_rng(SEED), needs_grad=needs_grad)


def forward(op, sample, inputs=None, target=None):
    inputs = sample.inputs if inputs is None else inputs
    target = sample.target if target is None else target
    args = (*inputs, target) if op.is_loss else inputs
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        return op.forward(ctx(), *args, **sample.attrs)


def backward(op, sample, dy, cache, needs_grad=()):
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        return op.backward(ctx(needs_grad), dy, cache, **sample.attrs)


def is_integer(x) -> bool:
    """Data that is not differentiable: token ids, strings, pixels, flags."""
    return not np.issubdtype(x.dtype, np.floating)


def output_dtype(op, sample) -> np.dtype:
    """What the op's dtype rule says its output is, for the sample's input dtypes."""
    from nnc.runtime.dtypes import DTYPES

    def name(x) -> str:  # by kind: a float64 sample stands for float32
        return next(n for n, d in DTYPES.items() if np.dtype(d.numpy).kind == x.dtype.kind)

    dtypes = [name(x) for x in sample.inputs[: n_data_inputs(op, sample)]]
    return np.dtype(DTYPES[op.output_dtype(*dtypes, **sample.attrs)].numpy)


def random_dy(op, y, rng):
    """Output gradient that projects y onto a scalar: a random number for a loss, else an array."""
    return 0.5 + rng.random() if op.is_loss else rng.standard_normal(y.shape)


# ---- the registry ------------------------------------------------------------------------------
def test_every_op_has_kernels_and_samples():
    for op in OPS.values():
        assert None not in (op.forward, op.backward, op.samples), op.name


@pytest.mark.parametrize("op", OPS.values(), ids=lambda op: op.name)
def test_kernels_take_exactly_the_op_attributes(op):
    names = {a.name for a in op.attrs}
    for kernel in (op.forward, op.backward):
        parameters = inspect.signature(kernel).parameters.values()
        assert {p.name for p in parameters if p.kind is p.KEYWORD_ONLY} == names, kernel


@pytest.mark.parametrize(("op", "sample"), CASES)
def test_sample_binds_every_attribute(op, sample):
    assert set(sample.attrs) == {a.name for a in op.attrs}
    for arg in op.attrs:
        assert arg.kind.check(sample.attrs[arg.name]) == sample.attrs[arg.name], arg.name
    # float64 where a gradient is checked; token ids (int64), strings, pixels and flags get none
    assert all(
        a.dtype in (np.float64, np.int64, np.uint8, np.bool_) or a.dtype.kind == "U" for a in sample.inputs
    )
    assert (sample.target is not None) == op.is_loss


# ---- generated checks --------------------------------------------------------------------------
@pytest.mark.parametrize(("op", "sample"), CASES)
def test_shape_rule_matches_the_kernel(op, sample):
    k = n_data_inputs(op, sample)
    data, params = sample.inputs[:k], sample.inputs[k:]
    y, _ = forward(op, sample)
    assert op.shape(*(x.shape for x in data), **sample.attrs) == y.shape
    if op.params is not None:
        specs = op.params(*(x.shape for x in data), **sample.attrs)
        assert [s.shape for s in specs] == [p.shape for p in params]
    if op.is_loss:
        assert y.shape == () and isinstance(y, np.ndarray)
        dtype, target_shape = op.target(data[0].shape, **sample.attrs)
        assert sample.target.shape == target_shape
        assert np.issubdtype(sample.target.dtype, np.integer) == (dtype == "int64")


@pytest.mark.parametrize(("op", "sample"), CASES)
def test_float32_stays_float32(op, sample):
    rng = np.random.default_rng(1)
    y64, _ = forward(op, sample)
    inputs = tuple(as_float32(x) for x in sample.inputs)
    y, cache = forward(op, sample, inputs, as_float32(sample.target) if op.is_loss else None)
    assert y.dtype == (np.float32 if op.is_loss else output_dtype(op, sample))
    np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-5)
    # a loss gets a float64 scalar, as a loss weight could be: it must not promote either
    dy = np.float64(0.7) if op.is_loss else rng.standard_normal(y.shape).astype(np.float32)
    grads = backward(op, sample, dy, cache)
    assert len(grads) == len(sample.inputs)
    for x, g in zip(sample.inputs, grads, strict=True):
        assert g is None if is_integer(x) else g.dtype == np.float32


@pytest.mark.parametrize(("op", "sample"), CASES)
def test_backward_matches_central_differences(op, sample):
    rng = np.random.default_rng(2)
    y, cache = forward(op, sample)
    dy = random_dy(op, y, rng)
    saved = [np.copy(x) for x in (*sample.inputs, dy)]
    grads = backward(op, sample, dy, cache)
    # kernels read their arguments and never write them
    for before, after in zip(saved, (*sample.inputs, dy), strict=True):
        np.testing.assert_array_equal(before, after)
    assert len(grads) == len(sample.inputs)

    def projected(inputs):
        return float(np.sum(forward(op, sample, inputs)[0] * dy))

    for i, x in enumerate(sample.inputs):
        if is_integer(x):  # token ids: not differentiable, so no gradient at all
            assert grads[i] is None, f"input {i}"
            continue
        assert grads[i].shape == x.shape, f"input {i}"
        numeric = np.zeros_like(x)
        for j in np.ndindex(x.shape):
            moved = [a.copy() for a in sample.inputs]
            moved[i][j] = x[j] + EPS
            up = projected(moved)
            moved[i][j] = x[j] - EPS
            numeric[j] = (up - projected(moved)) / (2 * EPS)
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-5, atol=1e-7, err_msg=f"input {i}")


MULTI_INPUT = [c for c in CASES if sum(not is_integer(x) for x in c.values[1].inputs) > 1]


@pytest.mark.parametrize(("op", "sample"), MULTI_INPUT)
def test_unwanted_gradients_are_skipped(op, sample):
    y, cache = forward(op, sample)
    dy = random_dy(op, y, np.random.default_rng(3))
    full = backward(op, sample, dy, cache)
    n = len(sample.inputs)
    for i in range(n):
        _, cache = forward(op, sample)
        grads = backward(op, sample, dy, cache, needs_grad=tuple(j != i for j in range(n)))
        assert grads[i] is None, f"input {i}"
        for j in set(range(n)) - {i}:
            if not is_integer(sample.inputs[j]):
                np.testing.assert_array_equal(grads[j], full[j])


def test_dense_skips_the_input_gradient_of_a_first_layer():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    _, cache = OPS["dense"].forward(ctx(), x, w, b, units=4, bias=True)
    dx, dw, db = OPS["dense"].backward(ctx((False, True, True)), np.ones((2, 4)), cache, units=4, bias=True)
    assert dx is None
    np.testing.assert_allclose(dw, np.repeat(x.sum(axis=0)[:, None], 4, axis=1))
    np.testing.assert_allclose(db, [2, 2, 2, 2])


# ---- dropout -----------------------------------------------------------------------------------
def test_dropout_at_inference_is_the_identity():
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    y, cache = OPS["dropout"].forward(ctx(training=False), x, rate=0.5)
    np.testing.assert_array_equal(y, x)
    (dx,) = OPS["dropout"].backward(ctx(training=False), x, cache, rate=0.5)
    np.testing.assert_array_equal(dx, x)


def test_dropout_in_training_zeroes_rate_of_the_elements_and_keeps_the_mean():
    x = np.ones((400, 250), np.float32)
    y, _ = OPS["dropout"].forward(ctx(), x, rate=0.3)
    assert y.dtype == np.float32
    assert abs(np.mean(y == 0) - 0.3) < 0.01  # 7 standard deviations at 100 000 elements
    assert abs(y.mean() - 1) < 0.015
    np.testing.assert_allclose(y[y != 0], np.float32(1 / 0.7), rtol=1e-6)


def test_dropout_draws_one_mask_for_float32_and_float64():
    x = np.random.default_rng(0).standard_normal((20, 30))
    y64, _ = OPS["dropout"].forward(ctx(), x, rate=0.5)
    y32, _ = OPS["dropout"].forward(ctx(), x.astype(np.float32), rate=0.5)
    np.testing.assert_array_equal(y64 == 0, y32 == 0)
    y_other, _ = OPS["dropout"].forward(Context(True, np.random.default_rng(SEED + 1)), x, rate=0.5)
    assert not np.array_equal(y_other == 0, y64 == 0)


# ---- values computed by hand -------------------------------------------------------------------
def run(name, *inputs, **attrs):
    return OPS[name].forward(ctx(), *inputs, **attrs)[0]


def test_dense_on_a_sequence():
    x = np.array([[[1.0, 2.0], [0.0, -1.0]]])  # (N=1, T=2, D=2)
    w = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    y = run("dense", x, w, np.array([0.5, 0.0, 0.0]), units=3, bias=True)
    np.testing.assert_array_equal(y, [[[1.5, 2.0, 3.0], [0.5, -1.0, -1.0]]])
    np.testing.assert_array_equal(run("dense", x, w, units=3, bias=False), [[[1, 2, 3], [0, -1, -1]]])


def test_softmax_and_log_softmax():
    x = np.array([[0.0, math.log(2)]])
    np.testing.assert_allclose(run("softmax", x, axis=-1), [[1 / 3, 2 / 3]], rtol=1e-15)
    np.testing.assert_allclose(run("log_softmax", x, axis=1), [[math.log(1 / 3), math.log(2 / 3)]])
    # along axis 1 of (N, C, L): each column sums to 1
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_allclose(run("softmax", x, axis=1).sum(axis=1), np.ones((2, 4)))
    assert np.all(np.isfinite(run("log_softmax", np.array([[1000.0, -1000.0]]), axis=-1)))


def test_activations_at_known_points():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]])
    np.testing.assert_array_equal(run("relu", x), [[0, 0, 0, 1.5]])
    np.testing.assert_allclose(run("leaky_relu", x, alpha=0.1), [[-0.2, -0.05, 0, 1.5]])
    np.testing.assert_allclose(run("elu", x, alpha=2.0), [[2 * math.expm1(-2), 2 * math.expm1(-0.5), 0, 1.5]])
    np.testing.assert_allclose(run("tanh", x), np.tanh(x))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = run("sigmoid", np.array([[-1000.0, 0.0, 1000.0, math.log(3)]]))
    np.testing.assert_allclose(s, [[0, 0.5, 1, 0.75]], rtol=1e-15)
    np.testing.assert_array_equal(run("linear", x), x)


def test_gelu_at_one():
    one = np.array([[1.0]])
    assert run("gelu", one, approximate="none")[0, 0] == pytest.approx(0.8413447460685429, abs=1e-15)
    assert run("gelu", one, approximate="tanh")[0, 0] == pytest.approx(0.8411919906082768, abs=1e-15)


def test_erf_against_math_erf():
    x = np.concatenate([np.linspace(-30, 30, 60001), [0.46875, -0.46875, 4.0, -4.0, 1e-300, 0.0]])
    reference = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(erf(x) - reference)) < 1e-14
    assert erf(x.astype(np.float32)).dtype == np.float32
    assert np.max(np.abs(erf(x.astype(np.float32)) - reference)) < 1e-6


def test_layer_norm_rows_have_mean_0_and_variance_1():
    x = np.random.default_rng(0).normal(3.0, 5.0, (4, 3, 16))
    y = run("layer_norm", x, np.ones(16), np.zeros(16), epsilon=1e-5)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-5)
    y = run("layer_norm", x, np.full(16, 2.0), np.full(16, -1.0), epsilon=1e-5)
    np.testing.assert_allclose(y.mean(axis=-1), -1, atol=1e-12)
    # mean 0 and variance 1 before epsilon: y = x / sqrt(1 + epsilon)
    y = run("layer_norm", np.array([[1.0, -1.0]]), np.ones(2), np.zeros(2), epsilon=0.25)
    np.testing.assert_allclose(y, [[1 / math.sqrt(1.25), -1 / math.sqrt(1.25)]], rtol=1e-15)


def test_global_pools():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(run("global_avg_pool", x), x.reshape(2, 3, 4).mean(axis=-1))
    np.testing.assert_array_equal(run("global_max_pool", x), x[:, :, 1, 1])
    # a tie sends the whole gradient to the first maximum
    tie = np.array([[[1.0, 3.0, 3.0, 2.0]]])
    y, cache = OPS["global_max_pool"].forward(ctx(), tie)
    (dx,) = OPS["global_max_pool"].backward(ctx(), np.array([[5.0]]), cache)
    np.testing.assert_array_equal(dx, [[[0, 5, 0, 0]]])


def test_shape_ops_keep_row_major_order():
    x = np.arange(12.0).reshape(1, 2, 3, 2)
    np.testing.assert_array_equal(run("flatten", x), np.arange(12.0)[None])
    np.testing.assert_array_equal(run("reshape", x, shape=(-1, 4)), np.arange(12.0).reshape(1, 3, 4))
    a, b = np.zeros((1, 2)), np.ones((1, 1))
    np.testing.assert_array_equal(run("concat", a, b, a, axis=-1), [[0, 0, 1, 0, 0]])
    np.testing.assert_array_equal(run("add", a + 1, a + 2, a + 3), [[6, 6]])
    np.testing.assert_array_equal(run("multiply", a + 2, a + 3, a - 1), [[-6, -6]])


def test_regression_losses_at_known_points():
    prediction, target = np.array([[0.5, -2.0, 3.0]]), np.zeros((1, 3))
    assert run("mse", prediction, target) == pytest.approx((0.25 + 4 + 9) / 3)
    assert run("mae", prediction, target) == pytest.approx(5.5 / 3)
    # |d| <= 1: d^2 / 2; beyond: |d| - 1/2
    assert run("huber", prediction, target, delta=1.0) == pytest.approx((0.125 + 1.5 + 2.5) / 3)
    assert run("huber", prediction, target, delta=2.0) == pytest.approx((0.125 + 2.0 + 4.0) / 3)
    _, cache = OPS["mae"].forward(ctx(), np.array([[1.0, 2.0]]), np.array([[1.0, 0.0]]))
    np.testing.assert_array_equal(OPS["mae"].backward(ctx(), 1.0, cache)[0], [[0, 0.5]])


def test_cross_entropy_by_hand():
    logits = np.array([[0.0, math.log(2)], [math.log(3), 0.0]])  # p = (1/3, 2/3), (3/4, 1/4)
    target = np.array([1, 0])
    plain = run("cross_entropy", logits, target, class_weights=None)
    assert plain == pytest.approx((math.log(3 / 2) + math.log(4 / 3)) / 2, rel=1e-14)
    # weighted: divided by the number of samples, not by the sum of weights (Keras)
    weighted = run("cross_entropy", logits, target, class_weights=(2.0, 0.5))
    assert weighted == pytest.approx((0.5 * math.log(3 / 2) + 2 * math.log(4 / 3)) / 2, rel=1e-14)
    _, cache = OPS["cross_entropy"].forward(ctx(), logits, target, class_weights=(2.0, 0.5))
    (dx,) = OPS["cross_entropy"].backward(ctx(), 1.0, cache, class_weights=(2.0, 0.5))
    np.testing.assert_allclose(dx, [[0.5 / 3 / 2, -0.5 / 3 / 2], [2 * -0.25 / 2, 2 * 0.25 / 2]])
    # log_softmax output read as logits gives the same loss
    log_p = run("log_softmax", logits, axis=-1)
    assert run("cross_entropy", log_p, target, class_weights=None) == pytest.approx(plain, rel=1e-14)


def test_binary_cross_entropy_by_hand():
    p, t = np.array([[0.8, 0.25]]), np.array([[1.0, 0.0]])
    loss = run("binary_cross_entropy", p, t, from_logits=False, class_weights=None)
    assert loss == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2, rel=1e-14)
    loss = run("binary_cross_entropy", p, t, from_logits=False, class_weights=(3.0, 2.0))
    assert loss == pytest.approx(-(2 * math.log(0.8) + 3 * math.log(0.75)) / 2, rel=1e-14)
    # probabilities are clipped to [1e-7, 1 - 1e-7]
    loss = run(
        "binary_cross_entropy", np.array([[0.0]]), np.array([[1.0]]), from_logits=False, class_weights=None
    )
    assert loss == pytest.approx(-math.log(1e-7))


def test_binary_cross_entropy_on_logits_equals_it_on_sigmoid_probabilities():
    rng = np.random.default_rng(0)
    logits, target = 3 * rng.standard_normal((4, 5)), rng.uniform(0, 1, (4, 5))
    probabilities, _ = OPS["sigmoid"].forward(ctx(), logits)
    bce = OPS["binary_cross_entropy"]
    for weights in (None, (0.5, 2.0)):
        on_logits, cache = bce.forward(ctx(), logits, target, from_logits=True, class_weights=weights)
        on_p, cache_p = bce.forward(ctx(), probabilities, target, from_logits=False, class_weights=weights)
        assert on_logits == pytest.approx(on_p, rel=1e-12)
        # chain rule through sigmoid: dx = dp * p (1 - p)
        (dx,) = bce.backward(ctx(), 1.0, cache, from_logits=True, class_weights=weights)
        (dp,) = bce.backward(ctx(), 1.0, cache_p, from_logits=False, class_weights=weights)
        np.testing.assert_allclose(dx, dp * probabilities * (1 - probabilities), rtol=1e-10, atol=1e-15)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        extreme = np.array([[-1000.0, 1000.0]])
        loss = bce.forward(ctx(), extreme, np.array([[1.0, 0.0]]), from_logits=True, class_weights=None)[0]
    assert loss == pytest.approx(1000.0)


def test_max_pool_sends_a_tie_to_the_first_tap_in_row_major_order():
    x = np.array([[[[1.0, 5, 2, 0], [5, 3, 4, 4], [0, 1, 7, 6], [2, 2, 7, 8]]]])
    attrs = {"size": (2, 2), "stride": (2, 2), "padding": (0, 0, 0, 0)}
    y, cache = OPS["max_pool2d"].forward(ctx(), x, **attrs)
    np.testing.assert_array_equal(y, [[[[5, 4], [2, 8]]]])
    (dx,) = OPS["max_pool2d"].backward(ctx(), np.array([[[[1.0, 2], [3, 4]]]]), cache, **attrs)
    np.testing.assert_array_equal(dx, [[[[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0], [3, 0, 0, 4]]]])


def test_max_pool_padding_never_wins_and_overlapping_gradients_add():
    x = np.array([[[-3.0, -5.0, -2.0]]])
    for padding in ("same", (1, 1)):  # same pads (1, 1) here
        attrs = {"size": (3,), "stride": (1,), "padding": padding}
        y, cache = OPS["max_pool1d"].forward(ctx(), x, **attrs)
        np.testing.assert_array_equal(y, [[[-3, -2, -2]]])
        (dx,) = OPS["max_pool1d"].backward(ctx(), np.array([[[1.0, 10.0, 100.0]]]), cache, **attrs)
        np.testing.assert_array_equal(dx, [[[1, 0, 110]]])


def test_avg_pool_counts_only_positions_inside_x():
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    attrs = {"size": (2, 2), "stride": (1, 1), "padding": (1, 1, 0, 0)}  # one row and column before
    y, cache = OPS["avg_pool2d"].forward(ctx(), x, **attrs)
    np.testing.assert_array_equal(y, [[[[1, 1.5], [2, 2.5]]]])
    (dx,) = OPS["avg_pool2d"].backward(ctx(), np.ones((1, 1, 2, 2)), cache, **attrs)
    np.testing.assert_array_equal(dx, [[[[1 + 1 / 2 + 1 / 2 + 1 / 4, 3 / 4], [3 / 4, 1 / 4]]]])
    # same with stride 2 on 5 positions pads (0, 1): the last window holds x[4] alone
    y = run("avg_pool1d", np.array([[[1.0, 2, 3, 4, 5]]]), size=(2,), stride=(2,), padding="same")
    np.testing.assert_array_equal(y, [[[1.5, 3.5, 5]]])


def test_pool_derive_writes_same_as_the_runtime_padding():
    derived = OPS["avg_pool1d"].derive(("N", 1, 7), size=(4,), stride=(2,), padding="same")
    assert derived == {"stride": (2,), "padding": (1, 2)}  # 4 outputs: 3 pads, the extra one at the end
    assert OPS["max_pool2d"].derive(("N", 1, 6, 6), size=(2, 2), stride=None, padding=(0, 0, 0, 0)) == {
        "stride": (2, 2),
        "padding": (0, 0, 0, 0),
    }


# ---- sequence_pool -----------------------------------------------------------------------------
def test_sequence_pool_values_and_the_max_tie_going_to_the_first_step():
    x = np.array([[[1.0, 5.0], [3.0, 5.0], [3.0, -1.0]]], np.float32)  # (1, T=3, D=2)
    op = OPS["sequence_pool"]
    expected = {"mean": [[7 / 3, 3.0]], "max": [[3.0, 5.0]], "first": [[1.0, 5.0]], "last": [[3.0, -1.0]]}
    for mode, want in expected.items():
        y, _ = op.forward(ctx(), x, mode=mode)
        np.testing.assert_allclose(y, want, rtol=1e-6)
    _, cache = op.forward(ctx(), x, mode="max")
    (dx,) = op.backward(ctx(), np.array([[1.0, 2.0]], np.float32), cache, mode="max")
    np.testing.assert_array_equal(dx, [[[0, 2], [1, 0], [0, 0]]])


# ---- embedding and positional_encoding ---------------------------------------------------------
def test_embedding_looks_up_rows_and_padding_reads_zero_and_learns_nothing():
    weight = np.arange(12.0).reshape(4, 3)  # row i = [3i, 3i + 1, 3i + 2]
    ids = np.array([[2, 0, 2]])
    attrs = {"vocab": 4, "dim": 3}
    np.testing.assert_array_equal(
        run("embedding", ids, weight, padding_index=None, **attrs), weight[[[2, 0, 2]]]
    )
    y, cache = OPS["embedding"].forward(ctx(), ids, weight, padding_index=2, **attrs)
    np.testing.assert_array_equal(y, [[[0, 0, 0], [0, 1, 2], [0, 0, 0]]])
    dy = np.ones((1, 3, 3))
    dx, dweight = OPS["embedding"].backward(ctx(), dy, cache, padding_index=2, **attrs)
    assert dx is None
    np.testing.assert_array_equal(dweight, [[1, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    _, cache = OPS["embedding"].forward(ctx(), ids, weight, padding_index=None, **attrs)
    _, dweight = OPS["embedding"].backward(ctx(), dy, cache, padding_index=None, **attrs)
    np.testing.assert_array_equal(dweight[2], [2, 2, 2])  # index 2 appears twice: gradients add


def test_sinusoidal_positions_at_known_points():
    y = run("positional_encoding", np.zeros((1, 3, 4)), kind="sinusoidal", max_length=None)
    # D = 4: column pairs (0, 1) turn at rate 1, (2, 3) at rate 10000^(-2/4) = 1/100
    t = np.arange(3.0)[:, None]
    np.testing.assert_allclose(y[0], np.hstack([np.sin(t), np.cos(t), np.sin(t / 100), np.cos(t / 100)]))
    assert (
        run("positional_encoding", np.zeros((1, 3, 4), np.float32), kind="sinusoidal", max_length=None).dtype
        == np.float32
    )


def test_learned_positions_add_the_first_rows_and_refuse_longer_sequences():
    weight = np.arange(8.0).reshape(4, 2)
    y = run("positional_encoding", np.ones((2, 3, 2)), weight, kind="learned", max_length=4)
    np.testing.assert_array_equal(y, np.broadcast_to(1 + weight[:3], (2, 3, 2)))
    with pytest.raises(ValueError, match="longer than max_length=4"):
        run("positional_encoding", np.ones((1, 5, 2)), weight, kind="learned", max_length=4)
