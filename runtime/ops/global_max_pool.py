"""global_max_pool: (N, C, *spatial) -> (N, C), y[n, c] = max of x[n, c] over all spatial axes.
dx routes dy[n, c] to the position of the max (on ties, the first in row-major order)."""

import math

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, check_rank


def shape(x):
    check_rank(x, 3, layout="N, C, *spatial")
    return (x[0], x[1])


def forward(ctx, x):
    flat = x.reshape(*x.shape[:2], -1)  # (N, C, positions)
    where = flat.argmax(axis=-1)[..., None]
    return np.take_along_axis(flat, where, axis=-1)[..., 0], (where, x.shape)


def backward(ctx, dy, cache):
    where, x_shape = cache
    dx = np.zeros((*x_shape[:2], math.prod(x_shape[2:])), dy.dtype)
    np.put_along_axis(dx, where, dy[..., None], axis=-1)
    return (dx.reshape(x_shape),)


def to_onnx(g, x):
    # NOTE: not GlobalMaxPool: onnx's ReferenceEvaluator (up to 1.23 at least) reduces over C too
    # on (N, C, L) inputs (onnx/onnx#7682). Rows of positions, then a max over each row:
    flat = g.node("Reshape", [x, g.const([0, 0, -1], hint="shape")])  # (N, C, positions)
    if g.opset >= 18:  # ReduceMax takes its axes as an input from opset 18
        return g.node("ReduceMax", [flat, g.const([-1], hint="axes")], keepdims=0)  # (N, C)
    return g.node("ReduceMax", [flat], axes=[-1], keepdims=0)


def samples(rng):
    # distinct values: a tie would make the max non-differentiable
    yield Sample((rng.permutation(24).reshape(2, 3, 4) / 7.0,))
    yield Sample((rng.permutation(36).reshape(2, 2, 3, 3) / 5.0 - 3,))


OP = OpDef(
    "global_max_pool", __doc__, shape, forward=forward, backward=backward, to_onnx=to_onnx, samples=samples
)
