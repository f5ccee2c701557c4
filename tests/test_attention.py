"""multi_head_attention beyond the registry's generated checks: values against the docstring's
equations written out one sample, head and query position at a time (a gradient check cannot
see a wrong forward), what causal and padding masks must hide, dropout in training and at
inference, the lowering at lengths and masks the registry samples do not reach, and, where
torch is installed, values and gradients against torch.nn.MultiheadAttention."""

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from nnc.runtime.onnx.export import IR_VERSION
from nnc.runtime.onnx.graph import OnnxGraph
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import Context, ShapeError
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

OP = OPS["multi_head_attention"]


def attrs(heads, key_dim, causal=False, dropout=0.0, bias=True):
    return {"heads": heads, "key_dim": key_dim, "causal": causal, "dropout": dropout, "bias": bias}


def make_params(rng, d, dm, width, bias=True):
    """query, key, value, output weights, then (with bias) their biases, in the op's order."""
    shapes = [(d, width), (dm, width), (dm, width), (width, d)]
    if bias:
        shapes += [(width,), (width,), (width,), (d,)]
    return [0.5 * rng.standard_normal(s) for s in shapes]


def run(*inputs, training=False, seed=0, **kw):
    return OP.forward(Context(training=training, rng=np.random.default_rng(seed)), *inputs, **kw)[0]


def by_definition(query, memory, mask, params, heads, key_dim, causal):
    """The docstring's equations, one sample, head and query position at a time (no dropout)."""
    wq, wk, wv, wo, *biases = params
    bq, bk, bv, bo = biases or [0.0] * 4
    memory = query if memory is None else memory
    n, tq, _ = query.shape
    tk = memory.shape[1]
    y = np.zeros(query.shape)
    for s in range(n):
        q, k, v = query[s] @ wq + bq, memory[s] @ wk + bk, memory[s] @ wv + bv
        heads_out = np.zeros((tq, heads * key_dim))
        for h in range(heads):
            cols = slice(h * key_dim, (h + 1) * key_dim)
            for i in range(tq):
                scores = []
                for j in range(tk):
                    hidden = (causal and j > i) or (mask is not None and mask[s, j] == 0)
                    scores.append(-1e9 if hidden else float(q[i, cols] @ k[j, cols]) / math.sqrt(key_dim))
                top = max(scores)
                e = [math.exp(z - top) for z in scores]
                a = [w / sum(e) for w in e]
                heads_out[i, cols] = sum(a[j] * v[j, cols] for j in range(tk))
        y[s] = heads_out @ wo + bo
    return y


@pytest.mark.parametrize(
    ("tq", "tk", "d", "dm", "heads", "key_dim", "causal", "masked", "bias"),
    [
        (3, None, 4, None, 2, 2, False, False, True),  # self-attention
        (3, None, 6, None, 3, 3, True, False, False),  # causal, key_dim 3 (not 6 / 3), no bias
        (2, 5, 4, 6, 2, 3, False, False, True),  # cross-attention, explicit key_dim
        (3, 5, 4, 4, 2, 2, True, True, True),  # causal (top-left triangle) and a padding mask
        (4, 4, 4, 4, 1, 4, False, True, True),  # masked self-attention: memory = query
    ],
)
def test_forward_matches_the_definition(tq, tk, d, dm, heads, key_dim, causal, masked, bias):
    rng = np.random.default_rng(0)
    query = rng.standard_normal((2, tq, d))
    memory = None if tk is None else query.copy() if tk == tq else rng.standard_normal((2, tk, dm))
    mask = np.array([[1.0, 0, 1, 1, 0], [1, 1, 0, 0, 0]])[:, :tk] if masked else None
    params = make_params(rng, d, d if memory is None else memory.shape[2], heads * key_dim, bias)
    data = [x for x in (query, memory, mask) if x is not None]
    y = run(*data, *params, **attrs(heads, key_dim, causal, bias=bias))
    want = by_definition(query, memory, mask, params, heads, key_dim, causal)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    y32 = run(*(x.astype(np.float32) for x in (*data, *params)), **attrs(heads, key_dim, causal, bias=bias))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, want, rtol=1e-4, atol=1e-5)


def test_causal_output_ignores_later_positions():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 4))
    params = make_params(rng, 4, 4, 4)
    y = run(x, *params, **attrs(2, 2, causal=True))
    for i in range(5):
        changed = x.copy()
        changed[:, i + 1 :] = rng.standard_normal(changed[:, i + 1 :].shape)
        y_changed = run(changed, *params, **attrs(2, 2, causal=True))
        np.testing.assert_allclose(y_changed[:, : i + 1], y[:, : i + 1], rtol=1e-13, atol=1e-13)
        if i < 4:
            assert not np.allclose(y_changed[:, i + 1 :], y[:, i + 1 :])
    # cross-attention: query position i sees memory positions 0..i, even with a longer memory
    memory = rng.standard_normal((2, 7, 4))
    y = run(x[:, :3], memory, *params, **attrs(2, 2, causal=True))
    later = memory.copy()
    later[:, 3:] += 10
    np.testing.assert_allclose(run(x[:, :3], later, *params, **attrs(2, 2, causal=True)), y, rtol=1e-13)


def test_padding_mask_hides_keys_and_a_fully_masked_row_averages_all_values():
    rng = np.random.default_rng(2)
    query, memory = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 6))
    mask = np.array([[1.0, 1, 0, 1, 0], [0, 1, 1, 1, 1]])
    params = make_params(rng, 4, 6, 4)
    y = run(query, memory, mask, *params, **attrs(2, 2))
    changed = memory.copy()
    changed[mask == 0] = 100 * rng.standard_normal((3, 6))
    np.testing.assert_allclose(run(query, changed, mask, *params, **attrs(2, 2)), y, rtol=1e-13, atol=1e-13)
    # the mask is not another spelling of no mask
    assert not np.allclose(run(query, memory, np.ones((2, 5)), *params, **attrs(2, 2)), y)
    # a sample with every key masked: uniform weights, so every query position gets the mean of v
    wq, wk, wv, wo, bq, bk, bv, bo = params
    none = np.array([[0.0] * 5, [1, 1, 1, 1, 1]])
    for x in (memory, memory.astype(np.float32)):
        params_x = [p.astype(x.dtype) for p in params]
        y = run(query.astype(x.dtype), x, none.astype(x.dtype), *params_x, **attrs(2, 2))
        assert np.all(np.isfinite(y))
        mean = (memory[0] @ wv + bv).mean(axis=0) @ wo + bo
        np.testing.assert_allclose(y[0], np.broadcast_to(mean, (3, 4)), rtol=1e-5, atol=1e-6)
    # with causal too, and the mask's gradient is 0: the output is piecewise constant in it
    _, cache = OP.forward(Context(), query, memory, none, *params, **attrs(2, 2, causal=True))
    grads = OP.backward(Context(), np.ones((2, 3, 4)), cache, **attrs(2, 2, causal=True))
    assert all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_array_equal(grads[0][0], 0)  # the masked sample's output is the same for any query
    np.testing.assert_array_equal(grads[2], np.zeros((2, 5)))


def test_mask_shape_errors():
    q, m = ("N", 3, 4), ("N", 5, 6)
    with pytest.raises(ShapeError, match=r"Received: mask: \[N, 4\], memory: \[N, 5, 6\]") as e:
        OP.shape(q, m, ("N", 4), **attrs(2, 2))
    assert e.value.arg == "mask"
    with pytest.raises(ShapeError, match=r"expects mask of rank 2 \(N, Tk\)") as e:
        OP.shape(q, m, ("N", 5, 1), **attrs(2, 2))
    assert e.value.arg == "mask"
    assert OP.shape(q, m, ("N", 5), **attrs(2, 2)) == q
    assert OP.max_inputs == 3 and OP.inputs == ("query", "memory", "mask")


def test_dropout_only_in_training_and_reproducible_from_the_seed():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 4))
    params = make_params(rng, 4, 4, 4)
    plain = run(x, *params, training=True, **attrs(2, 2))
    np.testing.assert_array_equal(run(x, *params, **attrs(2, 2, dropout=0.5)), plain)
    np.testing.assert_array_equal(run(x, *params, seed=7, **attrs(2, 2, dropout=0.5)), plain)
    dropped = run(x, *params, training=True, seed=7, **attrs(2, 2, dropout=0.5))
    assert not np.allclose(dropped, plain)
    np.testing.assert_array_equal(run(x, *params, training=True, seed=7, **attrs(2, 2, dropout=0.5)), dropped)
    assert not np.allclose(run(x, *params, training=True, seed=8, **attrs(2, 2, dropout=0.5)), dropped)
    # the mask is drawn from float32 uniforms: float32 training drops the same weights
    dropped32 = run(
        *(a.astype(np.float32) for a in (x, *params)), training=True, seed=7, **attrs(2, 2, dropout=0.5)
    )
    np.testing.assert_allclose(dropped32, dropped, rtol=1e-4, atol=1e-5)


def test_dropout_at_zero_draws_nothing():
    """A training step with dropout=0 leaves the run's generator to the layers after it."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 4))
    ctx = Context(training=True, rng=np.random.default_rng(0))
    OP.forward(ctx, x, *make_params(rng, 4, 4, 4), **attrs(2, 2))
    assert ctx.rng.random() == np.random.default_rng(0).random()


# ---- the lowering at lengths and masks the registry samples do not reach ----------------------
def export(params, d, dm, **kw):
    """The op's lowering alone on query, memory and mask, lengths "Tq" and "Tk" both dynamic."""
    g = OnnxGraph()
    names = ["query", "memory", "mask"]
    for name in names:
        g.reserve(name)
    specs = OP.params(("N", 1, d), ("N", 1, dm), ("N", 1), **kw)
    params = [g.initializer(spec.name, p.astype(np.float32)) for spec, p in zip(specs, params, strict=True)]
    out = OP.to_onnx(g, *names, *params, **kw)
    shapes = (["N", "Tq", d], ["N", "Tk", dm], ["N", "Tk"])
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in zip(names, shapes, strict=True)
    ]
    y = helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", "Tq", d])
    graph = helper.make_graph(g.nodes, "attention", inputs, [y], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=IR_VERSION)
    onnx.checker.check_model(model, full_check=True)
    return model, names


@pytest.mark.parametrize("causal", [False, True])
def test_lowering_at_other_lengths_and_with_a_fully_masked_row(causal):
    rng = np.random.default_rng(5)
    params = make_params(rng, 4, 6, 6)
    kw = attrs(2, 3, causal=causal)
    model, names = export(params, 4, 6, **kw)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    reference = ReferenceEvaluator(model)
    for n, tq, tk in ((2, 2, 7), (3, 6, 2), (2, 1, 1)):
        mask = (rng.random((n, tk)) < 0.6).astype(np.float32)
        mask[:, 0] = 1  # every causal row sees a key ...
        mask[-1] = 0  # ... but the last sample's, which sees none
        query, memory = (rng.standard_normal(s).astype(np.float32) for s in ((n, tq, 4), (n, tk, 6)))
        feeds = dict(zip(names, (query, memory, mask), strict=True))
        want = run(*feeds.values(), *(p.astype(np.float32) for p in params), **kw)
        for who, (got,) in (
            ("onnxruntime", session.run(None, feeds)),
            ("reference", reference.run(None, feeds)),
        ):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=who)


# ---- torch, when it happens to be installed ----------------------------------------------------
@pytest.mark.parametrize(
    ("tk", "dm", "causal", "masked"),
    [(None, None, False, False), (None, None, True, False), (5, 4, False, True), (5, 4, True, True)],
    ids=["self", "self-causal", "cross-masked", "cross-causal-masked"],
)
def test_matches_torch_multihead_attention(tk, dm, causal, masked):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    n, tq, d, heads = 2, 4, 6, 3  # torch's heads are d / heads wide
    query = rng.standard_normal((n, tq, d))
    memory = None if tk is None else rng.standard_normal((n, tk, dm))
    tk, dm = (tq, d) if memory is None else (tk, dm)
    mask = np.array([[1.0, 0, 1, 1, 0], [1, 1, 0, 1, 1]]) if masked else None
    params = make_params(rng, d, dm, d)
    wq, wk, wv, wo, bq, bk, bv, bo = params
    data = [x for x in (query, memory, mask) if x is not None]
    kw = attrs(heads, d // heads, causal)
    y, cache = OP.forward(Context(training=True), *data, *params, **kw)
    dy = rng.standard_normal(y.shape)
    grads = OP.backward(Context(training=True), dy, cache, **kw)

    mha = torch.nn.MultiheadAttention(d, heads, kdim=dm, vdim=dm, batch_first=True, dtype=torch.float64)
    t = torch.tensor
    with torch.no_grad():  # torch's weights are (out, in): ours transposed
        if mha.in_proj_weight is not None:  # one (3 d, d) matrix when memory is the query
            mha.in_proj_weight.copy_(t(np.concatenate([wq.T, wk.T, wv.T])))
        else:
            mha.q_proj_weight.copy_(t(wq.T))
            mha.k_proj_weight.copy_(t(wk.T))
            mha.v_proj_weight.copy_(t(wv.T))
        mha.in_proj_bias.copy_(t(np.concatenate([bq, bk, bv])))
        mha.out_proj.weight.copy_(t(wo.T))
        mha.out_proj.bias.copy_(t(bo))
    q = t(query, requires_grad=True)
    m = q if memory is None else t(memory, requires_grad=True)
    # torch masks with True = hidden (and -inf); the attended mask is ours with 1 = attend
    padding = None if mask is None else t(mask == 0)
    causal_mask = torch.triu(torch.ones(tq, tk, dtype=torch.bool), diagonal=1) if causal else None
    out, _ = mha(q, m, m, key_padding_mask=padding, attn_mask=causal_mask, need_weights=False)
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-12, atol=1e-12)

    (out * t(dy)).sum().backward()
    np.testing.assert_allclose(grads[0], q.grad.numpy(), rtol=1e-10, atol=1e-12)
    if memory is not None:
        np.testing.assert_allclose(grads[1], m.grad.numpy(), rtol=1e-10, atol=1e-12)
    dwq, dwk, dwv, dwo, dbq, dbk, dbv, dbo = grads[len(data) :]
    if mha.in_proj_weight is not None:
        torch_dw = np.split(mha.in_proj_weight.grad.numpy(), 3)
    else:
        torch_dw = [p.grad.numpy() for p in (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)]
    for ours, theirs in zip((dwq, dwk, dwv), torch_dw, strict=True):
        np.testing.assert_allclose(ours, theirs.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        np.concatenate([dbq, dbk, dbv]), mha.in_proj_bias.grad.numpy(), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(dwo, mha.out_proj.weight.grad.numpy().T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbo, mha.out_proj.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
