"""unstandardize(target): y = x * std + mean, per element of the per-sample shape: a regression
output back in its target's units. The compiler inserts it after a prediction whose target
`data { standardize_targets = ... }` names; it is not written as a layer.

The network before it learns standardized targets: its loss reads x, against (target - mean) /
std (runtime/executor.py), so the scale of the target does not set the scale of the last
layer's weights or of their gradients. Everything after it — metrics, `Model.predict`, the
exported graph, `nnc predict` — is in the target's own units.

Fitted, not trained: `fit` takes mean and std of the training split's target array (named by
`target`), as standardize does for an input (a constant feature gets std 1). Only that array is
read: the network is not run to fit it.

dx = dy * std, dmean = sum dy, dstd = sum dy * x (sums over the batch axis; they are not
trained, so training never asks for these two)."""

import numpy as np
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, check_rank, ones, zeros
from nnc.runtime.ops.standardize import describe_fit
from nnc.runtime.ops.standardize import fit as statistics
from nnc.runtime.schema import Arg, Str


def shape(x, *, target):
    check_rank(x, 2)
    return x


def params(x, *, target):
    per_sample = tuple(x[1:])
    return (
        ParamSpec("mean", per_sample, zeros(), init_arg=None, trainable=False, regularized=False),
        ParamSpec("std", per_sample, ones(), init_arg=None, trainable=False, regularized=False),
    )


def fit(target_array, *, target):
    """(mean, std) of the training split's target array, (N, *shape)."""
    return statistics(np.asarray(target_array, np.float32))


def forward(ctx, x, mean, std, *, target):
    return x * std + mean, (x, std)


def backward(ctx, dy, cache, *, target):
    x, std = cache
    dmean = dy.sum(axis=0) if ctx.wants(1) else None
    dstd = (dy * x).sum(axis=0) if ctx.wants(2) else None
    return (dy * std if ctx.wants(0) else None), dmean, dstd


def to_onnx(g, x, mean, std, *, target):
    return g.node("Add", [g.node("Mul", [x, std]), mean])


def samples(rng):
    for x_shape in ((4, 1), (3, 2, 5)):
        per_sample = x_shape[1:]
        yield Sample(
            (
                rng.standard_normal(x_shape),
                10 * rng.standard_normal(per_sample),
                0.5 + rng.random(per_sample),
            ),
            {"target": "y"},
        )


OP = OpDef(
    "unstandardize",
    __doc__,
    shape,
    attrs=(Arg("target", Str(), doc="the target array whose statistics it is fitted on"),),
    params=params,
    fit=fit,
    fits_target=True,
    inserted=True,
    describe_fit=lambda mean, std, *, target: describe_fit(mean, std),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
