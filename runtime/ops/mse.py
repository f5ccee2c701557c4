"""mse(prediction, target): mean over all elements of (prediction - target)^2.
target: float32, the prediction's shape. dprediction = dloss * 2 (prediction - target) / size."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, loss_shape, same_target


def forward(ctx, prediction, target):
    d = prediction - target.astype(prediction.dtype, copy=False)
    return np.asarray(np.mean(d * d), prediction.dtype), d


def backward(ctx, dloss, d):
    return (d * (np.asarray(dloss, d.dtype) * (2 / d.size)),)


def samples(rng):
    yield Sample((rng.standard_normal((3, 4)),), target=rng.standard_normal((3, 4)))


OP = OpDef(
    "mse",
    __doc__,
    loss_shape,
    inputs=("prediction",),
    is_loss=True,
    target=same_target,
    forward=forward,
    backward=backward,
    samples=samples,
)
