"""batch_norm(momentum=0.9, epsilon=1e-5): normalizes each channel (axis 1) of x: (N, C) or
(N, C, *spatial) over the batch and spatial axes.

training:  y = scale * (x - mean) / sqrt(var + epsilon) + bias, with mean and var (biased) of
           the batch, and running = momentum * running + (1 - momentum) * batch statistic
inference: y = scale * (x - running_mean) / sqrt(running_var + epsilon) + bias
NOTE: momentum is Keras' convention (the weight of the old value); PyTorch's momentum=0.1 is
momentum=0.9 here.

Layout: scale, bias, running_mean and running_var are each (C,); the running statistics are
state, not trained. A training forward hands their new values to the executor (ctx.updates),
which stores them after a finite step; they are saved in checkpoints and exported.

Backward follows a training forward, where y does not depend on the running statistics (their
gradient is zero). With xhat = (x - mean) / sqrt(var + epsilon), g = dy * scale and means over
the batch and spatial axes, per channel:
dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + epsilon), dscale = sum dy * xhat,
dbias = sum dy."""

import numpy as np
from nnc.runtime.ops.base import Context, OpDef, ParamSpec, Sample, check_rank, ones, zeros
from nnc.runtime.schema import Arg, Float


def shape(x, *, momentum, epsilon):
    check_rank(x, 2, layout="N, C, *spatial")
    return x


def params(x, *, momentum, epsilon):
    c = (x[1],)
    return (
        ParamSpec("scale", c, ones(), init_arg="scale_init", regularized=False),
        ParamSpec("bias", c, zeros(), init_arg="bias_init", regularized=False),
        ParamSpec("running_mean", c, zeros(), init_arg=None, trainable=False, regularized=False),
        ParamSpec("running_var", c, ones(), init_arg=None, trainable=False, regularized=False),
    )


def _channels(x, v):
    """A (C,) vector shaped to broadcast against x (N, C, *spatial)."""
    return v.reshape(-1, *(1,) * (x.ndim - 2))


def forward(ctx: Context, x, scale, bias, running_mean, running_var, *, momentum, epsilon):
    axes = (0, *range(2, x.ndim))
    if ctx.training:
        mean = x.mean(axis=axes)
        centered = x - _channels(x, mean)
        var = (centered * centered).mean(axis=axes)
        ctx.updates.append((running_mean, momentum * running_mean + (1 - momentum) * mean))
        ctx.updates.append((running_var, momentum * running_var + (1 - momentum) * var))
    else:
        centered, var = x - _channels(x, running_mean), running_var
    rstd = _channels(x, 1 / np.sqrt(var + epsilon))
    xhat = centered * rstd
    return xhat * _channels(x, scale) + _channels(x, bias), (xhat, rstd, scale, axes)


def backward(ctx, dy, cache, *, momentum, epsilon):
    xhat, rstd, scale, axes = cache
    dx = None
    if ctx.wants(0):
        g = dy * _channels(dy, scale)
        mean_g = g.mean(axis=axes, keepdims=True)
        dx = (g - mean_g - xhat * (g * xhat).mean(axis=axes, keepdims=True)) * rstd
    dscale = (dy * xhat).sum(axis=axes) if ctx.wants(1) else None
    dbias = dy.sum(axis=axes) if ctx.wants(2) else None
    still = [np.zeros_like(scale) if ctx.wants(i) else None for i in (3, 4)]
    return dx, dscale, dbias, *still


def to_onnx(g, x, scale, bias, running_mean, running_var, *, momentum, epsilon):
    return g.node("BatchNormalization", [x, scale, bias, running_mean, running_var], epsilon=float(epsilon))


def samples(rng):
    for x_shape, epsilon in (((5, 3), 1e-5), ((3, 2, 4), 1e-3), ((2, 3, 3, 2), 0.1)):
        c = x_shape[1]
        yield Sample(
            (
                rng.standard_normal(x_shape) * 2 + 1,
                1 + 0.5 * rng.standard_normal(c),
                rng.standard_normal(c),
                rng.standard_normal(c),
                0.5 + rng.random(c),
            ),
            {"momentum": 0.9, "epsilon": epsilon},
        )


OP = OpDef(
    "batch_norm",
    __doc__,
    shape,
    attrs=(
        Arg("momentum", Float(0, 1, min_open=True, max_open=True), 0.9, "weight of the old running value"),
        Arg("epsilon", Float(0, min_open=True), 1e-5, "added to the variance"),
    ),
    params=params,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
