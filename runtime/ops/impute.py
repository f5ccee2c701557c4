"""impute(strategy=mean, value=0, indicator=false): missing values (NaN: an empty or `NA` cell
of the data) replaced per feature by the training split's mean or median of the values present,
or by `value` (strategy=constant); a feature with no value in training gets `value` too. With
`indicator=true` a 0/1 "was missing" column follows each feature, so the model can tell.

x: float32 (N, ..., F) -> (N, ..., F), or (N, ..., 2F) with the indicators after the values.
An input read through impute is the only kind whose data may hold missing values; the data
checks refuse them everywhere else.

fill is a parameter with x's per-sample shape, fitted and never trained.
ONNX: Where(IsNaN(x), fill, x), and Cast(IsNaN(x)) for the indicators.
dx = dy where x is present, 0 where it was filled; dfill = sum of dy where x was missing."""

import numpy as np
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, check_rank, zeros
from nnc.runtime.schema import Arg, Bool, Choice, Float


def shape(x, *, strategy, value, indicator):
    check_rank(x, 2)
    return (*x[:-1], 2 * x[-1]) if indicator else x


def params(x, *, strategy, value, indicator):
    return (ParamSpec("fill", tuple(x[1:]), zeros(), init_arg=None, trainable=False, regularized=False),)


def fit(x, *, strategy, value, indicator):
    present = ~np.isnan(x)
    count = present.sum(axis=0)
    if strategy == "constant":
        fill = np.full(x.shape[1:], value)
    elif strategy == "mean":
        fill = np.where(present, x, 0).sum(axis=0, dtype=np.float64) / np.maximum(count, 1)
    else:
        fill = np.nanmedian(np.where(count > 0, x, 0.0), axis=0) if x.size else np.zeros(x.shape[1:])
    return (np.where(count > 0, fill, value).astype(np.float32),)


def forward(ctx, x, fill, *, strategy, value, indicator):
    missing = np.isnan(x)
    y = np.where(missing, fill, x)
    if indicator:
        y = np.concatenate([y, missing.astype(x.dtype)], axis=-1)
    return y, missing


def backward(ctx, dy, missing, *, strategy, value, indicator):
    dy = dy[..., : missing.shape[-1]]
    dx = np.where(missing, 0, dy) if ctx.wants(0) else None
    dfill = np.where(missing, dy, 0).sum(axis=0) if ctx.wants(1) else None
    return dx, dfill


def to_onnx(g, x, fill, *, strategy, value, indicator):
    missing = g.node("IsNaN", [x])
    y = g.node("Where", [missing, fill, x])
    if not indicator:
        return y
    return g.node("Concat", [y, g.node("Cast", [missing], to=1)], axis=-1)


def describe_fit(fill, *, strategy, value, indicator) -> str:
    values = ", ".join(f"{v:.4g}" for v in np.asarray(fill).reshape(-1)[:8])
    more = ", ..." if np.asarray(fill).size > 8 else ""
    return f"{strategy}: {values}{more}" + (" (with indicators)" if indicator else "")


def samples(rng):
    x = rng.standard_normal((5, 3))
    x[[0, 2, 3], [1, 1, 2]] = np.nan
    for strategy, indicator in (("mean", False), ("median", True), ("constant", True)):
        attrs = {"strategy": strategy, "value": -1.0, "indicator": indicator}
        yield Sample((x, rng.standard_normal(3)), attrs)


OP = OpDef(
    "impute",
    __doc__,
    shape,
    attrs=(
        Arg("strategy", Choice(("mean", "median", "constant")), "mean", "what replaces a missing value"),
        Arg("value", Float(), 0.0, "the constant, and the fill of a feature never present"),
        Arg("indicator", Bool(), False, "add a 0/1 column per feature: the value was missing"),
    ),
    params=params,
    fit=fit,
    describe_fit=describe_fit,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
