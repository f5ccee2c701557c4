"""dropout(rate): in training y = x * m / (1 - rate), m ~ Bernoulli(1 - rate) per element
(inverted dropout, so inference is the identity); at inference y = x. dx = dy * m / (1 - rate).

The mask comes from ctx.rng, drawn as float32 uniforms whatever x's dtype, so one seed gives one
mask in float32 training and in float64 gradient checks."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, elementwise
from nnc.runtime.schema import Arg, Float


def forward(ctx, x, *, rate):
    if not ctx.training:
        return x, None
    keep = ctx.rng.random(x.shape, dtype=np.float32) >= rate
    scale = np.asarray(1 / (1 - rate), x.dtype)
    return x * keep * scale, keep


def backward(ctx, dy, keep, *, rate):
    if keep is None:  # inference: the identity
        return (dy,)
    return (dy * keep * np.asarray(1 / (1 - rate), dy.dtype),)


def to_onnx(g, x, *, rate):
    return g.node("Identity", [x])  # inference: the identity (ONNX Dropout is not exported)


def samples(rng):
    yield Sample((rng.standard_normal((4, 6)),), {"rate": 0.3})


OP = OpDef(
    "dropout",
    __doc__,
    elementwise,
    attrs=(Arg("rate", Float(0, 1, max_open=True), doc="fraction of elements zeroed"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
