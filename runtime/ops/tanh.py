"""tanh: y = (exp(x) - exp(-x)) / (exp(x) + exp(-x)); dx = dy * (1 - y^2)."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, elementwise


def forward(ctx, x):
    y = np.tanh(x)
    return y, y


def backward(ctx, dy, y):
    return (dy * (1 - y * y),)


def to_onnx(g, x):
    return g.node("Tanh", [x])


def samples(rng):
    yield Sample((2 * rng.standard_normal((3, 5)),))


OP = OpDef(
    "tanh",
    __doc__,
    elementwise,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
    bounded="in (-1, 1)",
)
