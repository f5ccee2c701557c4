"""Convolution and batch norm beyond the registry's generated checks: convolution values against
the definition written out as loops (a gradient check cannot see a wrong forward), the
transposed convolution as the exact adjoint of the convolution, and batch norm's training vs
inference behaviour with its running statistics, through the executor and a trained model."""

import itertools

import numpy as np
import pytest
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import Context

import nnc

TRAIN = Context(training=True, rng=np.random.default_rng(0))


def conv_by_definition(x, weight, bias, stride, pads, dilation, groups):
    """y[n, f, p] = bias[f] + sum_{c, k} weight[f, c, k] * xpad[n, g * C/G + c, p * stride + k * dilation]."""
    xpad = np.pad(x, ((0, 0), (0, 0), *pads))
    n, channels = x.shape[:2]
    filters, per_group, *kernel = weight.shape
    out = [
        (m - d * (k - 1) - 1) // s + 1
        for m, k, s, d in zip(xpad.shape[2:], kernel, stride, dilation, strict=True)
    ]
    y = np.zeros((n, filters, *out))
    for f in range(filters):
        g = f // (filters // groups)
        for p in itertools.product(*map(range, out)):
            for c in range(per_group):
                for k in itertools.product(*map(range, kernel)):
                    at = tuple(pi * s + ki * d for pi, ki, s, d in zip(p, k, stride, dilation, strict=True))
                    y[(slice(None), f, *p)] += (
                        weight[(f, c, *k)] * xpad[(slice(None), g * per_group + c, *at)]
                    )
        y[:, f] += bias[f]
    return y


@pytest.mark.parametrize(
    ("x_shape", "filters", "kernel", "stride", "pads", "dilation", "groups"),
    [
        ((2, 3, 6, 7), 4, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
        ((1, 4, 7, 6), 6, (2, 3), (2, 1), ((0, 1), (2, 0)), (1, 2), 2),
        ((2, 3, 5, 5), 3, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 3),  # depthwise
        ((2, 2, 9), 3, (3,), (2,), ((1, 2),), (2,), 1),  # conv1d
        # 16 channels per group fill a cache line: im2col copies one strided view (ops/windows.py)
        ((2, 32, 5, 6), 4, (3, 2), (1, 2), ((1, 0), (1, 1)), (1, 1), 2),
        ((1, 16, 7), 3, (3,), (1,), ((0, 0),), (2,), 1),
    ],
)
def test_convolution_matches_its_definition(x_shape, filters, kernel, stride, pads, dilation, groups):
    rng = np.random.default_rng(0)
    rank = len(kernel)
    x = rng.standard_normal(x_shape)
    weight = rng.standard_normal((filters, x_shape[1] // groups, *kernel))
    bias = rng.standard_normal(filters)
    padding = tuple(b for b, _ in pads) + tuple(e for _, e in pads)
    attrs = {"filters": filters, "kernel": kernel, "stride": stride, "padding": padding}
    attrs |= {"dilation": dilation, "groups": groups, "bias": True}
    y, _ = OPS[f"conv{rank}d"].forward(TRAIN, x, weight, bias, **attrs)
    np.testing.assert_allclose(
        y, conv_by_definition(x, weight, bias, stride, pads, dilation, groups), rtol=1e-12
    )


@pytest.mark.parametrize(("channels", "groups"), [(3, 1), (32, 1), (32, 2)])
def test_convolution_gradients_match_finite_differences_along_random_directions(channels, groups):
    """The registry's gradient checks use a few channels; wide layers take im2col's other path.
    d/dt f(x + t u, w + t v) at 0, for f = <conv(x, w), z>, must equal <dx, u> + <dw, v>."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, channels, 6, 5))
    weight = rng.standard_normal((4, channels // groups, 3, 3))
    bias = rng.standard_normal(4)
    attrs = {"filters": 4, "kernel": (3, 3), "stride": (2, 1), "padding": (1, 0, 1, 1)}
    attrs |= {"dilation": (1, 1), "groups": groups, "bias": True}
    conv = OPS["conv2d"]
    y, cache = conv.forward(TRAIN, x, weight, bias, **attrs)
    z = rng.standard_normal(y.shape)
    dx, dw, _ = conv.backward(Context(training=True), z, cache, **attrs)
    u, v = rng.standard_normal(x.shape), rng.standard_normal(weight.shape)

    def f(t):
        return np.sum(conv.forward(TRAIN, x + t * u, weight + t * v, bias, **attrs)[0] * z)

    h = 1e-5
    numeric = (f(h) - f(-h)) / (2 * h)
    np.testing.assert_allclose(np.sum(dx * u) + np.sum(dw * v), numeric, rtol=1e-7)


@pytest.mark.parametrize(
    ("size", "stride", "padding", "kernel"),
    [
        (8, 2, "same", 3),
        (6, 2, "same", 4),
        (6, 3, "same", 1),
        (5, 1, (1, 1, 1, 1), 3),
        (9, 2, (0, 1, 1, 0), 4),
    ],
)
def test_transposed_convolution_is_the_adjoint_of_the_convolution(size, stride, padding, kernel):
    """<conv(x), z> = <x, conv_transpose(z)> with one weight: padding=same included, which makes
    conv2d_transpose(same) upsample exactly as the gradient of conv2d(same) does."""
    rng = np.random.default_rng(1)
    conv, transpose = OPS["conv2d"], OPS["conv2d_transpose"]
    x = rng.standard_normal((2, 3, size, size))
    weight = rng.standard_normal((4, 3, kernel, kernel))  # conv: 3 -> 4 channels; transpose: 4 -> 3
    attrs = {"kernel": (kernel, kernel), "stride": (stride, stride), "dilation": (1, 1)}
    conv_attrs = attrs | {"filters": 4, "padding": padding, "groups": 1, "bias": False}
    conv_attrs |= conv.derive(x.shape, **conv_attrs)
    y, _ = conv.forward(TRAIN, x, weight, **conv_attrs)
    z = rng.standard_normal(y.shape)
    t_attrs = attrs | {"filters": 3, "padding": padding, "output_padding": (0, 0), "bias": False}
    t_attrs |= transpose.derive(z.shape, **t_attrs)
    back, _ = transpose.forward(TRAIN, z, weight, **t_attrs)
    if back.shape != x.shape:  # explicit padding may leave rows the convolution never read
        assert padding != "same"
        back = back[:, :, : x.shape[2], : x.shape[3]]
    np.testing.assert_allclose(np.sum(y * z), np.sum(x * back), rtol=1e-12)
    if padding == "same":
        assert back.shape == x.shape and y.shape[2] == -(-size // stride)


# ---- batch norm --------------------------------------------------------------------------------
BN = OPS["batch_norm"]


def test_batch_norm_normalizes_with_batch_statistics_in_training_and_running_ones_after():
    rng = np.random.default_rng(2)
    x = (3 + 2 * rng.standard_normal((64, 2, 3, 3))).astype(np.float32)
    scale, bias = np.array([1.0, 2.0], np.float32), np.array([0.0, -1.0], np.float32)
    mean, var = np.zeros(2, np.float32), np.ones(2, np.float32)
    ctx = Context(training=True)
    y, _ = BN.forward(ctx, x, scale, bias, mean, var, momentum=0.9, epsilon=1e-5)
    per_channel = y.transpose(1, 0, 2, 3).reshape(2, -1)
    np.testing.assert_allclose(per_channel.mean(axis=1), [0, -1], atol=1e-5)
    np.testing.assert_allclose(per_channel.std(axis=1), [1, 2], rtol=1e-4)
    # the running statistics are proposed, not written: the executor stores them
    assert (mean == 0).all() and (var == 1).all()
    (m_state, m_new), (v_state, v_new) = ctx.updates
    assert m_state is mean and v_state is var
    batch = x.transpose(1, 0, 2, 3).reshape(2, -1)
    np.testing.assert_allclose(m_new, 0.1 * batch.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(v_new, 0.9 + 0.1 * batch.var(axis=1), rtol=1e-5)
    # inference: the running statistics, whatever the batch
    y, _ = BN.forward(Context(), x[:1], scale, bias, m_new, v_new, momentum=0.9, epsilon=1e-5)
    per_channel = (slice(None), None, None)  # (C,) against (N, C, H, W)
    xhat = (x[:1] - m_new[per_channel]) / np.sqrt(v_new[per_channel] + 1e-5)
    expected = xhat * scale[per_channel] + bias[per_channel]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


SPEC = """
model bn {
    input x: float32[2, 4, 4]
    conv2d(3, kernel=3, padding=same) -> batch_norm(momentum=0.5) -> relu
    global_avg_pool
    dense(2) as logits
}
loss cross_entropy(logits, target=label)
optimizer sgd(lr=0.1)
train { epochs = 2; batch_size = 16; seed = 1 }
data { train = "d.npz" }
"""


@pytest.fixture
def bn_spec(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 64)
    x = (rng.standard_normal((64, 2, 4, 4)) + 2 * label[:, None, None, None]).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, label=label)
    path = tmp_path / "bn.nn"
    path.write_text(SPEC)
    return path


def test_the_executor_stores_running_statistics_after_a_training_step_only(bn_spec):
    model = nnc.load(bn_spec)
    params = model.plan.params
    params.initialize(np.random.default_rng(0))
    data = model.dataset(None).arrays
    feeds = {"x": data["x"][:16], "label": data["label"][:16]}
    model.plan.evaluate(feeds)
    assert (params.values["batch_norm_1.running_mean"] == 0).all()  # inference leaves them alone
    model.plan.gradients(feeds, np.random.default_rng(0))
    conv = model.plan.run({"x": feeds["x"]}, outputs=["conv2d_1"])["conv2d_1"]
    batch_mean = conv.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(params.values["batch_norm_1.running_mean"], 0.5 * batch_mean, rtol=1e-5)
    # a step whose loss is not finite stores nothing: the trainer stops on it, keeping the last good state
    before = params.to_dict()
    feeds["x"] = feeds["x"].copy()
    feeds["x"][3, 0, 0, 0] = np.nan
    assert not np.isfinite(model.plan.gradients(feeds, np.random.default_rng(0)).loss)
    np.testing.assert_array_equal(
        params.values["batch_norm_1.running_mean"], before["batch_norm_1.running_mean"]
    )


def test_running_statistics_are_saved_restored_and_exported(bn_spec, tmp_path):
    model = nnc.load(bn_spec)
    model.fit(out=tmp_path / "run")
    saved = np.load(tmp_path / "run" / "weights.npz")
    assert saved["batch_norm_1.running_var"].shape == (3,)
    assert not np.allclose(saved["batch_norm_1.running_var"], 1)  # trained, not the initial ones
    x = model.dataset(None).arrays["x"][:7]
    expected = model.predict(x)
    again = nnc.load(bn_spec).load(tmp_path / "run")
    np.testing.assert_array_equal(again.predict(x), expected)
    onnx_path = tmp_path / "bn.onnx"
    model.export(onnx_path)
    np.testing.assert_allclose(nnc.predict(onnx_path, x), expected, rtol=1e-4, atol=1e-5)


# ---- the training plan's rewrite ---------------------------------------------------------------
POOLED = """
model pooled {
    input x: float32[2, 8, 8]
    conv2d(4, kernel=3, padding=same, bias=false) -> relu
    max_pool2d(2)
    conv2d(3, kernel=3) -> relu as features
    max_pool2d(2)
    flatten
    dense(2) as logits
    output logits, features
}
loss cross_entropy(logits, target=label)
optimizer sgd(lr=0.1)
"""


def test_training_pools_before_relu_with_bit_identical_values_and_gradients(monkeypatch):
    from nnc.runtime import executor

    fused = nnc.load(POOLED).plan
    names = [s.name for s in fused.train_steps]
    assert names[:3] == ["conv2d_1", "max_pool2d_1/before_relu", "max_pool2d_1"]
    assert "relu_1" not in names
    assert "features" in names  # a model output: left as written
    monkeypatch.setattr(executor, "_pool_before_relu", lambda steps, kept: steps)
    plain = nnc.load(POOLED).plan
    rng = np.random.default_rng(0)
    for params in (fused.params, plain.params):
        params.initialize(np.random.default_rng(1))
    # small integers: ties inside windows, and whole windows <= 0 after the convolution
    feeds = {"x": rng.integers(-2, 2, (8, 2, 8, 8)).astype(np.float32), "label": rng.integers(0, 2, 8)}
    a = fused.gradients(feeds, np.random.default_rng(0))
    b = plain.gradients(feeds, np.random.default_rng(0))
    assert a.loss == b.loss
    np.testing.assert_array_equal(a.values["max_pool2d_1"], b.values["max_pool2d_1"])
    np.testing.assert_array_equal(fused.params.grad, plain.params.grad)
    assert np.count_nonzero(plain.params.grad) > 0
