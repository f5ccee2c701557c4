"""batch_norm(momentum=0.9, epsilon=1e-5): normalizes each channel (axis 1) of x: (N, C) or
(N, C, *spatial) over the batch and spatial axes.

training:  y = scale * (x - mean) / sqrt(var + epsilon) + bias, with mean and var (biased) of
           the batch, and running = momentum * running + (1 - momentum) * batch statistic
inference: y = scale * (x - running_mean) / sqrt(running_var + epsilon) + bias
NOTE: momentum is Keras' convention (the weight of the old value); PyTorch's momentum=0.1 is
momentum=0.9 here.

Layout: scale, bias, running_mean and running_var are each (C,); the running statistics are
state, not trained."""

from nnc.runtime.ops.base import OpDef, ParamSpec, check_rank, ones, zeros
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


OP = OpDef(
    "batch_norm",
    __doc__,
    shape,
    attrs=(
        Arg("momentum", Float(0, 1, min_open=True, max_open=True), 0.9, "weight of the old running value"),
        Arg("epsilon", Float(0, min_open=True), 1e-5, "added to the variance"),
    ),
    params=params,
)
