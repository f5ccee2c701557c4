"""mae(prediction, target): mean over all elements of |prediction - target|.
target: float32, the prediction's shape. dprediction = dloss * sign(prediction - target) / size
(0 where they are equal)."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, loss_shape, same_target


def forward(ctx, prediction, target):
    d = prediction - target.astype(prediction.dtype, copy=False)
    return np.asarray(np.mean(np.abs(d)), prediction.dtype), np.sign(d)


def backward(ctx, dloss, sign):
    return (sign * (np.asarray(dloss, sign.dtype) / sign.size),)


def samples(rng):
    prediction = rng.standard_normal((3, 4))
    # no difference near 0, where |d| has its kink
    gap = rng.choice([-1.0, 1.0], (3, 4)) * rng.uniform(0.1, 1.0, (3, 4))
    yield Sample((prediction,), target=prediction + gap)


OP = OpDef(
    "mae",
    __doc__,
    loss_shape,
    inputs=("prediction",),
    is_loss=True,
    target=same_target,
    forward=forward,
    backward=backward,
    samples=samples,
)
