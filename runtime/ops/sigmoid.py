"""sigmoid: y = 1 / (1 + exp(-x)); dx = dy * y * (1 - y)."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, elementwise


def forward(ctx, x):
    # exp of -|x| never overflows: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0
    e = np.exp(-np.abs(x))
    y = np.where(x >= 0, 1, e) / (1 + e)
    return y, y


def backward(ctx, dy, y):
    return (dy * y * (1 - y),)


def to_onnx(g, x):
    return g.node("Sigmoid", [x])


def samples(rng):
    yield Sample((3 * rng.standard_normal((3, 5)),))


OP = OpDef(
    "sigmoid",
    __doc__,
    elementwise,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
    bounded="in (0, 1)",
)
