"""leaky_relu(alpha=0.01): y = x if x >= 0 else alpha * x; dx = dy, or alpha * dy where x < 0."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, elementwise
from nnc.runtime.schema import Arg, Float


def forward(ctx, x, *, alpha):
    positive = x >= 0
    return np.where(positive, x, alpha * x), positive


def backward(ctx, dy, positive, *, alpha):
    # NOTE: np.where(positive, 1, alpha) would build a float64 slope; scale dy instead.
    return (np.where(positive, dy, alpha * dy),)


def to_onnx(g, x, *, alpha):
    return g.node("LeakyRelu", [x], alpha=float(alpha))


def samples(rng):
    x = rng.standard_normal((3, 5))
    yield Sample((np.where(np.abs(x) < 0.05, -0.5, x),), {"alpha": 0.2})


OP = OpDef(
    "leaky_relu",
    __doc__,
    elementwise,
    attrs=(Arg("alpha", Float(0), 0.01, "slope for x < 0"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
