"""cast: an input of raw numbers (uint8 pixels, bool flags) as float32: 0..255, or 0 and 1. The
compiler inserts it right after each input of such a dtype, so every layer computes on float32
while the data, and the exported model's inputs, keep the type they come in. It is never
written as a layer.

Not differentiable: its input is data."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, elementwise


def forward(ctx, x):
    return x.astype(np.float32), None


def backward(ctx, dy, cache):
    return (None,)


def to_onnx(g, x):
    return g.node("Cast", [x], to=1)  # FLOAT


def samples(rng):
    yield Sample((rng.integers(0, 256, (3, 1, 2, 2)).astype(np.uint8),))
    yield Sample((rng.random((4, 3)) < 0.5,))


OP = OpDef(
    "cast",
    __doc__,
    elementwise,
    input_dtypes=(("uint8", "bool"),),
    inserted=True,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
