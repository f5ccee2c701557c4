"""elu(alpha=1.0): y = x if x > 0 else alpha * (exp(x) - 1).
dx = dy where x > 0, else dy * alpha * exp(x) = dy * (y + alpha)."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, elementwise
from nnc.runtime.schema import Arg, Float


def forward(ctx, x, *, alpha):
    positive = x > 0
    # minimum: exp of a large positive x (discarded by where) would overflow
    y = np.where(positive, x, alpha * np.expm1(np.minimum(x, 0)))
    return y, (positive, y)


def backward(ctx, dy, cache, *, alpha):
    positive, y = cache
    return (np.where(positive, dy, dy * (y + alpha)),)


def to_onnx(g, x, *, alpha):
    return g.node("Elu", [x], alpha=float(alpha))


def samples(rng):
    x = 2 * rng.standard_normal((3, 5))
    yield Sample((np.where(np.abs(x) < 0.05, 0.5, x),), {"alpha": 1.0})
    yield Sample((np.where(np.abs(x) < 0.05, -0.5, x),), {"alpha": 0.3})


OP = OpDef(
    "elu",
    __doc__,
    elementwise,
    attrs=(Arg("alpha", Float(0, min_open=True), 1.0, "value approached as x -> -inf is -alpha"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
    bounded="> -alpha",
)
