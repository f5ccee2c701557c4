"""softmax(axis=-1): y = exp(x - max x) / sum exp(x - max x) along axis (never the batch axis).
dx = y * (dy - sum(dy * y)) along axis."""

import numpy as np
from nnc.runtime.ops import rows
from nnc.runtime.ops.base import OpDef, Sample, normalize_axis
from nnc.runtime.schema import Arg, Int


def shape(x, *, axis):
    normalize_axis(axis, len(x))
    return x


def forward(ctx, x, *, axis):
    if axis in (-1, x.ndim - 1):  # the common case, through BLAS (ops/rows.py)
        y = rows.softmax_last(x)
        return y, y
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, y


def backward(ctx, dy, y, *, axis):
    if axis in (-1, y.ndim - 1):
        dx = dy - rows.sum_last(dy * y)[..., None]
    else:
        dx = dy - (dy * y).sum(axis=axis, keepdims=True)
    dx *= y
    return (dx,)


def to_onnx(g, x, *, axis):
    return g.node("Softmax", [x], axis=axis)


def samples(rng):
    yield Sample((rng.standard_normal((3, 4)),), {"axis": -1})
    yield Sample((rng.standard_normal((2, 3, 4)),), {"axis": 1})


OP = OpDef(
    "softmax",
    __doc__,
    shape,
    attrs=(Arg("axis", Int(), -1, "axis that sums to 1"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
    bounded="in (0, 1)",
)
