"""layer_norm(epsilon=1e-5): normalizes over the last axis, for each sample and position:
y = scale * (x - mean) / sqrt(var + epsilon) + bias, mean and (biased) var over the last axis.

Layout: scale and bias are each (D,), D the size of the last axis."""

from nnc.runtime.ops.base import OpDef, ParamSpec, check_rank, ones, zeros
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


OP = OpDef(
    "layer_norm",
    __doc__,
    shape,
    attrs=(Arg("epsilon", Float(0, min_open=True), 1e-5, "added to the variance"),),
    params=params,
)
