"""sequence_pool(mode=mean): (N, T, D) -> (N, D), reducing the time axis:
mean: y = mean_t x[:, t];  max: y = max_t x[:, t];  first: y = x[:, 0];  last: y = x[:, T - 1].

Gradients: mean spreads dy / T over every step; max sends dy to the step holding the maximum
(on ties, the first); first and last send dy to that one step. The lowerings read T from the
input, so an exported model takes any sequence length."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, check_rank
from nnc.runtime.schema import Arg, Choice


def shape(x, *, mode):
    check_rank(x, 3, 3, layout="N, T, D")
    return (x[0], x[2])


def forward(ctx, x, *, mode):
    if mode == "mean":
        return x.mean(axis=1), x.shape
    if mode == "max":
        where = x.argmax(axis=1)[:, None, :]  # (N, 1, D): the first maximum
        return np.take_along_axis(x, where, axis=1)[:, 0], (where, x.shape)
    return x[:, 0 if mode == "first" else -1].copy(), x.shape


def backward(ctx, dy, cache, *, mode):
    if not ctx.wants(0):
        return (None,)
    if mode == "mean":
        steps = cache[1]
        return (np.repeat(dy[:, None, :] / steps, steps, axis=1),)
    if mode == "max":
        where, x_shape = cache
        dx = np.zeros(x_shape, dy.dtype)
        np.put_along_axis(dx, where, dy[:, None, :], axis=1)
        return (dx,)
    dx = np.zeros(cache, dy.dtype)
    dx[:, 0 if mode == "first" else -1] = dy
    return (dx,)


def to_onnx(g, x, *, mode):
    if mode in ("first", "last"):
        return g.node("Gather", [x, g.const(0 if mode == "first" else -1, hint="step")], axis=1)
    op = "ReduceMean" if mode == "mean" else "ReduceMax"
    if g.opset >= 18:  # the reductions take their axes as an input from opset 18
        return g.node(op, [x, g.const([1], hint="axes")], keepdims=0)
    return g.node(op, [x], axes=[1], keepdims=0)


def samples(rng):
    for mode in ("mean", "first", "last"):
        yield Sample((rng.standard_normal((2, 4, 3)),), {"mode": mode})
    # distinct values: a tie would make the max non-differentiable
    yield Sample((rng.permutation(30).reshape(2, 5, 3) / 4.0,), {"mode": "max"})


OP = OpDef(
    "sequence_pool",
    __doc__,
    shape,
    attrs=(Arg("mode", Choice(("mean", "max", "first", "last")), "mean", "how to reduce time"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
