"""standardize: y = (x - mean) / std, per element of the per-sample shape. Preprocessing that
the compiler inserts after each input `data { standardize = ... }` names; it is not written as
a layer.

Fitted, not trained: `fit` takes mean and std over the samples (axis 0) of the training split,
in float64, stored as float32; a feature whose std is below 1e-8 (a constant pixel) gets std 1,
so it is only centered. mean and std are parameters that no optimizer touches, saved in the
weights and checkpoints and exported, so every copy of the model carries its scaling.

Layout: mean and std each have the per-sample shape of x.

dx = dy / std, dmean = -sum dy / std, dstd = -sum dy * y / std (sums over the batch axis)."""

import numpy as np
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, check_rank, ones, zeros

STD_FLOOR = 1e-8


def shape(x):
    check_rank(x, 2)
    return x


def params(x):
    per_sample = tuple(x[1:])
    return (
        ParamSpec("mean", per_sample, zeros(), init_arg=None, trainable=False, regularized=False),
        ParamSpec("std", per_sample, ones(), init_arg=None, trainable=False, regularized=False),
    )


def fit(x):
    """(mean, std) of the training split's x: (N, *shape)."""
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    s = x.std(axis=0, dtype=np.float64)
    return mean, np.where(s < STD_FLOOR, 1.0, s).astype(np.float32)


def forward(ctx, x, mean, std):
    y = (x - mean) / std
    return y, (y, std)


def backward(ctx, dy, cache):
    y, std = cache
    dx = dy / std
    dmean = -dx.sum(axis=0) if ctx.wants(1) else None
    dstd = -(dx * y).sum(axis=0) if ctx.wants(2) else None
    return (dx if ctx.wants(0) else None), dmean, dstd


def to_onnx(g, x, mean, std):
    return g.node("Div", [g.node("Sub", [x, mean]), std])


def describe_fit(mean, std) -> str:
    def first(a) -> str:
        flat = np.asarray(a).reshape(-1)
        return ", ".join(f"{v:.4g}" for v in flat[:6]) + (", ..." if flat.size > 6 else "")

    return f"mean {first(mean)}; std {first(std)}"


def samples(rng):
    for x_shape in ((4, 3), (2, 1, 4, 4)):
        per_sample = x_shape[1:]
        yield Sample(
            (
                3 * rng.standard_normal(x_shape) + 1,
                rng.standard_normal(per_sample),
                0.5 + rng.random(per_sample),
            )
        )


OP = OpDef(
    "standardize",
    __doc__,
    shape,
    params=params,
    fit=fit,
    inserted=True,
    describe_fit=describe_fit,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
