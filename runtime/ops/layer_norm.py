"""layer_norm(epsilon=1e-5): normalizes over the last axis, for each sample and position:
y = scale * (x - mean) / sqrt(var + epsilon) + bias, mean and (biased) var over the last axis.

Layout: scale and bias are each (D,), D the size of the last axis.

With xhat = (x - mean) / sqrt(var + epsilon) and g = dy * scale, per row of D elements:
dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + epsilon), dscale = sum dy * xhat,
dbias = sum dy (the sums over every axis but the last)."""

import numpy as np
from nnc.runtime.ops import rows
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, check_rank, ones, zeros
from nnc.runtime.schema import Arg, Float


def shape(x, *, epsilon):
    check_rank(x, 2)
    return x


def params(x, *, epsilon):
    d = (x[-1],)
    return (
        ParamSpec("scale", d, ones(), init_arg="scale_init", regularized=False),
        ParamSpec("bias", d, zeros(), init_arg="bias_init", regularized=False),
    )


# The means and sums go through BLAS (ops/rows.py), and every pass writes into an array the
# kernel made: the fewest passes over the (N, ..., D) arrays.
def _mean_last(x: np.ndarray) -> np.ndarray:
    """The means along the last axis, keeping it: (N, ..., 1)."""
    means = rows.sum_last(x)
    means *= x.dtype.type(1 / x.shape[-1])
    return means[..., None]


def forward(ctx, x, scale, bias, *, epsilon):
    xhat = x - _mean_last(x)  # centered, then normalized in place
    square = np.multiply(xhat, xhat)
    rstd = _mean_last(square)
    rstd += x.dtype.type(epsilon)
    np.sqrt(rstd, out=rstd)
    np.divide(1, rstd, out=rstd)
    xhat *= rstd  # (N, ..., D)
    y = np.multiply(xhat, scale, out=square)
    y += bias
    return y, (xhat, rstd, scale)


def backward(ctx, dy, cache, *, epsilon):
    xhat, rstd, scale = cache
    dx = None
    if ctx.wants(0):
        g = dy * scale
        dx = np.multiply(g, xhat)
        dx = np.multiply(xhat, _mean_last(dx), out=dx)
        dx += _mean_last(g)
        np.subtract(g, dx, out=dx)
        dx *= rstd
    dscale = rows.sum_leading(dy * xhat) if ctx.wants(1) else None
    dbias = rows.sum_leading(dy) if ctx.wants(2) else None
    return dx, dscale, dbias


def to_onnx(g, x, scale, bias, *, epsilon):
    return g.node("LayerNormalization", [x, scale, bias], axis=-1, epsilon=float(epsilon))


def samples(rng):
    x = rng.standard_normal((3, 5))
    yield Sample((x, 1 + 0.5 * rng.standard_normal(5), rng.standard_normal(5)), {"epsilon": 1e-5})
    x = rng.standard_normal((2, 3, 4))  # (N, T, D)
    yield Sample((x, 1 + 0.5 * rng.standard_normal(4), rng.standard_normal(4)), {"epsilon": 0.1})


OP = OpDef(
    "layer_norm",
    __doc__,
    shape,
    attrs=(Arg("epsilon", Float(0, min_open=True), 1e-5, "added to the variance"),),
    params=params,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
