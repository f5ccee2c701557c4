"""multi_head_attention(heads, key_dim=D // heads, causal=false, dropout=0, bias=true): scaled
dot-product attention of query: (N, Tq, D) over memory: (N, Tk, Dm), or over the query
itself when memory is absent (self-attention), with an optional key padding mask: (N, Tk).
Output (N, Tq, D).

    q = query @ query_weight + query_bias       # (N, Tq, heads * key_dim), split per head
    k = memory @ key_weight + key_bias          # (N, Tk, heads * key_dim)
    v = memory @ value_weight + value_bias      # (N, Tk, heads * key_dim)
    s = q_h k_h^T / sqrt(key_dim) per head h, then s[i, j] = -1e9 where key j is hidden from query i
    a = softmax(s) over the Tk axis; dropout on a in training
    y = concat_h(a v_h) @ output_weight + output_bias
causal hides key position j > i from query position i (aligned at position 0, so with a memory
of another length the mask is the top-left triangle of the Tq x Tk scores, as PyTorch is_causal).
mask, as HuggingFace's attention_mask, is 1 where a memory position is attended and 0 where it
is ignored (padding) by every query position (read as: attended where mask > 0.5). Masked
self-attention passes the query as memory too: [x, x, mask] -> multi_head_attention(...).

A hidden score is replaced by -1e9, not -inf: a query position that sees no key at all (a fully
masked row) then attends uniformly to every key instead of giving NaN, while every other row is
exact (exp(-1e9 - max) is 0 in float32 and float64). Replaced rather than added as
(mask - 1) * 1e9: in float32 that sum is -1e9 anyway (its ulp there is 64), so replacing gives
float32 and float64 one result. The output is piecewise constant in the mask: its gradient is 0.

The dropout mask comes from ctx.rng as float32 uniforms, as the dropout op's, and is drawn only
in training with dropout > 0. Backward, per head, with a' the weights after dropout:
dv = a'^T do, da = dropout'(do v^T), ds = a * (da - sum_j(da * a)) (0 where hidden),
dq = ds k / sqrt(key_dim), dk = ds^T q / sqrt(key_dim), then through the projections as dense.

Layout (rows index inputs; head h owns columns h * key_dim to (h + 1) * key_dim):
    query_weight (D, heads * key_dim), key_weight and value_weight (Dm, heads * key_dim),
    output_weight (heads * key_dim, D); query_bias, key_bias, value_bias (heads * key_dim,),
    output_bias (D,)."""

import math

import numpy as np
from nnc.runtime.ops import rows
from nnc.runtime.ops.base import (
    OpDef,
    ParamSpec,
    Sample,
    ShapeError,
    check_rank,
    format_shape,
    glorot_uniform,
    zeros,
)
from nnc.runtime.schema import Arg, Bool, Float, Int, Optional

HIDDEN = -1e9  # the score of a hidden key position (see the docstring); exact in float32


def _key_dim(query, heads, key_dim):
    if key_dim is not None:
        return key_dim
    d = query[2]
    if d % heads:
        # the divisors nearest heads, looked for near it only: d may be huge
        divisors = [h for h in range(max(1, heads - 64), min(d, heads + 64) + 1) if d % h == 0]
        near = sorted(sorted(divisors, key=lambda h: abs(h - heads))[:2]) or [1]
        raise ShapeError(
            f"multi_head_attention needs the feature size divisible by heads when key_dim is "
            f"not given. Received: query: {format_shape(query)}, heads={heads}",
            arg="heads",
            help=f"use heads dividing {d}, such as {' or '.join(map(str, near))}, or give key_dim=",
        )
    return d // heads


def derive(query, memory=None, mask=None, *, heads, key_dim, **_attrs):
    return {"key_dim": _key_dim(query, heads, key_dim)}


def shape(query, memory=None, mask=None, *, heads, key_dim, causal, dropout, bias):
    check_rank(query, 3, 3, what="query", layout="N, T, D")
    if memory is not None:
        check_rank(memory, 3, 3, what="memory", layout="N, T, D")
    if mask is not None:
        check_rank(mask, 2, 2, what="mask", layout="N, Tk")
        if tuple(mask) != tuple(memory[:2]):
            raise ShapeError(
                f"multi_head_attention needs a mask of shape [N, Tk], one entry per memory "
                f"position. Received: mask: {format_shape(mask)}, memory: {format_shape(memory)}",
                arg="mask",
                help="the mask is 1 where a memory position is attended and 0 where it is padding",
            )
    _key_dim(query, heads, key_dim)
    return query


def params(query, memory=None, mask=None, *, heads, key_dim, causal, dropout, bias):
    memory = query if memory is None else memory
    width = heads * _key_dim(query, heads, key_dim)
    d, dm = query[2], memory[2]
    out = [
        ParamSpec("query_weight", (d, width), glorot_uniform(), fan_in=d, fan_out=width),
        ParamSpec("key_weight", (dm, width), glorot_uniform(), fan_in=dm, fan_out=width),
        ParamSpec("value_weight", (dm, width), glorot_uniform(), fan_in=dm, fan_out=width),
        ParamSpec("output_weight", (width, d), glorot_uniform(), fan_in=width, fan_out=d),
    ]
    if bias:
        out += [
            ParamSpec(f"{name}_bias", (n,), zeros(), init_arg="bias_init", regularized=False)
            for name, n in (("query", width), ("key", width), ("value", width), ("output", d))
        ]
    return tuple(out)


def flops(query, memory=None, mask=None, *, heads, key_dim, causal, dropout, bias):
    memory = query if memory is None else memory
    k = _key_dim(query, heads, key_dim)
    (_, tq, d), (_, tk, dm) = query, memory
    projections = 2 * heads * k * (tq * d + 2 * tk * dm + tq * d)
    return projections + 2 * 2 * heads * tq * tk * k


# ---- kernels -----------------------------------------------------------------------------------
def _split(inputs, bias):
    """Kernel arguments as query, memory, mask (None when absent), the four weights and the four
    biases (None without bias): the parameters follow one to three data inputs."""
    n_params = 8 if bias else 4
    data, params = inputs[:-n_params], inputs[-n_params:]
    query, memory, mask = (*data, None, None)[:3]
    return query, memory, mask, params[:4], params[4:] if bias else (None,) * 4


def _project(x, w, b):
    y = x @ w
    if b is not None:
        y += b
    return y


def _split_heads(x, n, heads):
    """(N * T, heads * key_dim) -> (N, heads, T, key_dim)."""
    return x.reshape(n, -1, heads, x.shape[-1] // heads).transpose(0, 2, 1, 3)


def _merge_heads(x):
    """(N, heads, T, key_dim) -> (N * T, heads * key_dim), heads side by side."""
    n, heads, t, k = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n * t, heads * k)


def _visible(tq, tk, mask, causal):
    """Which scores are kept, as booleans broadcasting to (N, heads, Tq, Tk); None: all are."""
    visible = None
    if causal:
        visible = np.arange(tq)[:, None] >= np.arange(tk)  # (Tq, Tk): the top-left triangle
    if mask is not None:
        keys = (mask > 0.5)[:, None, None, :]  # (N, 1, 1, Tk)
        visible = keys if visible is None else visible & keys
    return visible


def forward(ctx, *inputs, heads, key_dim, causal, dropout, bias):
    query, memory, mask, (wq, wk, wv, wo), (bq, bk, bv, bo) = _split(inputs, bias)
    source = query if memory is None else memory
    (n, tq, d), tk = query.shape, source.shape[1]
    x, m = query.reshape(n * tq, d), source.reshape(n * tk, source.shape[2])
    scale = np.asarray(1 / math.sqrt(key_dim), query.dtype)
    q = _split_heads(_project(x, wq, bq) * scale, n, heads)  # scaled here, so s = q k^T
    k = _split_heads(_project(m, wk, bk), n, heads)
    v = _split_heads(_project(m, wv, bv), n, heads)
    s = q @ k.transpose(0, 1, 3, 2)  # (N, heads, Tq, Tk)
    visible = _visible(tq, tk, mask, causal)
    if visible is not None:
        s = np.where(visible, s, np.asarray(HIDDEN, s.dtype))
    a = rows.softmax_last(s)
    keep, weights = None, a
    if ctx.training and dropout > 0:
        keep = ctx.rng.random(a.shape, dtype=np.float32) >= dropout
        weights = a * keep * np.asarray(1 / (1 - dropout), a.dtype)
    heads_out = _merge_heads(weights @ v)  # (N * Tq, heads * key_dim)
    y = _project(heads_out, wo, bo).reshape(n, tq, d)
    cache = (x, m, memory is None, mask, (wq, wk, wv, wo), q, k, v, a, keep, weights, heads_out, visible)
    return y, cache


def backward(ctx, dy, cache, *, heads, key_dim, causal, dropout, bias):
    x, m, self_attention, mask, (wq, wk, wv, wo), q, k, v, a, keep, weights, heads_out, visible = cache
    n, tq, d = dy.shape
    scale = np.asarray(1 / math.sqrt(key_dim), dy.dtype)
    dy2 = dy.reshape(n * tq, d)
    d_out = _split_heads(dy2 @ wo.T, n, heads)  # (N, heads, Tq, key_dim)
    dv = _merge_heads(weights.transpose(0, 1, 3, 2) @ d_out)
    da = d_out @ v.transpose(0, 1, 3, 2)
    if keep is not None:
        da = da * keep * np.asarray(1 / (1 - dropout), da.dtype)
    ds = da - rows.sum_last(da * a)[..., None]
    ds *= a
    if visible is not None:
        # a hidden score is the constant -1e9: nothing flows back through it (in a fully masked
        # row its weight is not 0, so this is not implied by a = 0)
        ds = ds * visible
    dq = _merge_heads(ds @ k) * scale
    dk = _merge_heads(ds.transpose(0, 1, 3, 2) @ q)  # q carries the scale already

    dx = (dq @ wq.T).reshape(dy.shape) if ctx.wants(0) else None
    memory_shape = (n, -1, m.shape[1])
    if self_attention:  # the query is the memory too: its gradient gathers all three projections
        grads = [dx + (dk @ wk.T + dv @ wv.T).reshape(memory_shape) if dx is not None else None]
    else:
        grads = [dx, (dk @ wk.T + dv @ wv.T).reshape(memory_shape) if ctx.wants(1) else None]
    if mask is not None:
        grads.append(np.zeros_like(mask) if ctx.wants(2) else None)
    i = len(grads)  # the parameters' first index
    products = ((x, dq), (m, dk), (m, dv), (heads_out, dy2))
    grads += [data.T @ g if ctx.wants(i + j) else None for j, (data, g) in enumerate(products)]
    if bias:
        grads += [rows.sum_leading(g) if ctx.wants(i + 4 + j) else None for j, (_, g) in enumerate(products)]
    return tuple(grads)


def to_onnx(g, *inputs, heads, key_dim, causal, dropout, bias):
    query, memory, mask, (wq, wk, wv, wo), (bq, bk, bv, bo) = _split(inputs, bias)
    source = query if memory is None else memory
    # Reshape's 0 copies the input's dimension: nothing depends on N, Tq or Tk
    to_heads = g.const([0, 0, heads, key_dim], hint="heads_shape")

    def project(x, w, b):
        y = g.node("MatMul", [x, w])
        return g.node("Add", [y, b]) if b is not None else y

    def split_heads(y):  # (N, T, heads * key_dim) -> (N, heads, T, key_dim)
        return g.node("Transpose", [g.node("Reshape", [y, to_heads])], perm=[0, 2, 1, 3])

    q = project(query, wq, bq)
    q = split_heads(g.node("Mul", [q, g.const(1 / math.sqrt(key_dim), hint="scale")]))
    k = split_heads(project(source, wk, bk))
    v = split_heads(project(source, wv, bv))
    s = g.node("MatMul", [q, g.node("Transpose", [k], perm=[0, 1, 3, 2])])

    visible = None
    if causal:

        def positions(x):  # 0, 1, ..., T - 1 for x: (N, T, D), T read at run time
            length = g.node("Gather", [g.node("Shape", [x]), g.const(1)], axis=0)
            return g.node("Range", [g.const(0), length, g.const(1)])

        rows = g.node("Unsqueeze", [positions(query), g.const([1])])  # (Tq, 1)
        visible = g.node("GreaterOrEqual", [rows, positions(source)])  # (Tq, Tk)
    if mask is not None:
        keys = g.node("Greater", [mask, g.const(0.5)])
        keys = g.node("Unsqueeze", [keys, g.const([1, 2])])  # (N, 1, 1, Tk)
        visible = keys if visible is None else g.node("And", [visible, keys])
    if visible is not None:
        s = g.node("Where", [visible, s, g.const(HIDDEN, hint="hidden")])
    a = g.node("Softmax", [s], axis=-1)

    heads_out = g.node("Transpose", [g.node("MatMul", [a, v])], perm=[0, 2, 1, 3])
    heads_out = g.node("Reshape", [heads_out, g.const([0, 0, heads * key_dim], hint="concat_shape")])
    return project(heads_out, wo, bo)


def samples(rng):
    def weights(d, dm, width, bias):
        shapes = [(d, width), (dm, width), (dm, width), (width, d)]
        if bias:
            shapes += [(width,), (width,), (width,), (d,)]
        return tuple(0.5 * rng.standard_normal(s) for s in shapes)

    def attrs(heads, key_dim, causal=False, dropout=0.0, bias=True):
        return {"heads": heads, "key_dim": key_dim, "causal": causal, "dropout": dropout, "bias": bias}

    x = rng.standard_normal((2, 3, 4))  # (N, Tq, D)
    yield Sample((x, *weights(4, 4, 4, True)), attrs(2, 2))  # self-attention
    memory = rng.standard_normal((2, 5, 6))  # Tk = 5, Dm = 6; key_dim 3, not D / heads = 2
    yield Sample((x, memory, *weights(4, 6, 6, True)), attrs(2, 3))
    yield Sample((x, *weights(4, 4, 4, False)), attrs(2, 2, causal=True, bias=False))
    memory = rng.standard_normal((2, 4, 4))
    mask = np.array([[1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])  # key 0 kept: causal rows see it
    yield Sample((x, memory, mask, *weights(4, 4, 4, True)), attrs(2, 2))
    yield Sample((x, memory, mask, *weights(4, 4, 3, True)), attrs(1, 3, causal=True))
    yield Sample((x, *weights(4, 4, 4, True)), attrs(2, 2, dropout=0.3))


OP = OpDef(
    "multi_head_attention",
    __doc__,
    shape,
    inputs=("query", "memory", "mask"),
    max_inputs=3,
    input_dtypes=("float32", "float32", "float32"),
    attrs=(
        Arg("heads", Int(1), doc="attention heads"),
        Arg("key_dim", Optional(Int(1)), None, "size per head; none: feature size / heads"),
        Arg("causal", Bool(), False, "forbid attending to later positions"),
        Arg("dropout", Float(0, 1, max_open=True), 0.0, "dropout on attention weights in training"),
        Arg("bias", Bool(), True, "add biases to the projections"),
    ),
    params=params,
    derive=derive,
    flops=flops,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
