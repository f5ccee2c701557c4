"""log_softmax(axis=-1): y = x - max x - log sum exp(x - max x) along axis (never the batch axis).
dx = dy - exp(y) * sum(dy) along axis."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, normalize_axis
from nnc.runtime.schema import Arg, Int


def shape(x, *, axis):
    normalize_axis(axis, len(x))
    return x


def forward(ctx, x, *, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return y, y


def backward(ctx, dy, y, *, axis):
    return (dy - np.exp(y) * dy.sum(axis=axis, keepdims=True),)


def to_onnx(g, x, *, axis):
    return g.node("LogSoftmax", [x], axis=axis)


def samples(rng):
    yield Sample((rng.standard_normal((3, 4)),), {"axis": -1})
    yield Sample((rng.standard_normal((2, 3, 4)),), {"axis": 1})


OP = OpDef(
    "log_softmax",
    __doc__,
    shape,
    attrs=(Arg("axis", Int(), -1, "axis of the distribution"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
    bounded="<= 0",
)
