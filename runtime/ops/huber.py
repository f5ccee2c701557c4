"""huber(prediction, target, delta=1.0): mean over all elements of, with d = prediction - target,
0.5 d^2 where |d| <= delta, else delta * (|d| - 0.5 delta). target: float32, the prediction's shape.
dprediction = dloss * clip(d, -delta, delta) / size."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, loss_shape, same_target
from nnc.runtime.schema import Arg, Float


def forward(ctx, prediction, target, *, delta):
    d = prediction - target.astype(prediction.dtype, copy=False)
    a = np.abs(d)
    per_element = np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    return np.asarray(np.mean(per_element), prediction.dtype), d


def backward(ctx, dloss, d, *, delta):
    return (np.clip(d, -delta, delta) * (np.asarray(dloss, d.dtype) / d.size),)


def samples(rng):
    prediction = rng.standard_normal((3, 4))
    # both sides of delta, none within reach of the seam at |d| = delta
    gap = rng.choice([-1.0, 1.0], (3, 4)) * rng.choice([0.2, 0.6, 1.4, 2.5], (3, 4))
    yield Sample((prediction,), {"delta": 1.0}, target=prediction + gap)
    yield Sample((prediction,), {"delta": 0.5}, target=prediction - gap)


OP = OpDef(
    "huber",
    __doc__,
    loss_shape,
    inputs=("prediction",),
    is_loss=True,
    target=same_target,
    attrs=(Arg("delta", Float(0, min_open=True), 1.0, "where the loss turns from square to linear"),),
    forward=forward,
    backward=backward,
    samples=samples,
)
