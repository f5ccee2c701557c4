"""global_avg_pool: (N, C, *spatial) -> (N, C), y[n, c] = mean of x[n, c] over all spatial axes.
dx[n, c, ...] = dy[n, c] / (number of spatial positions)."""

import math

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, check_rank


def shape(x):
    check_rank(x, 3, layout="N, C, *spatial")
    return (x[0], x[1])


def forward(ctx, x):
    return x.mean(axis=tuple(range(2, x.ndim))), x.shape


def backward(ctx, dy, x_shape):
    dx = np.empty(x_shape, dy.dtype)
    dx[...] = (dy / math.prod(x_shape[2:])).reshape(dy.shape + (1,) * (len(x_shape) - 2))
    return (dx,)


def to_onnx(g, x):
    y = g.node("GlobalAveragePool", [x])  # (N, C, 1, ...)
    return g.node("Flatten", [y], axis=1)  # (N, C)


def samples(rng):
    yield Sample((rng.standard_normal((2, 3, 4)),))
    yield Sample((rng.standard_normal((2, 2, 3, 3)),))


OP = OpDef(
    "global_avg_pool", __doc__, shape, forward=forward, backward=backward, to_onnx=to_onnx, samples=samples
)
