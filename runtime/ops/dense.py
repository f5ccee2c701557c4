"""dense(units): y = x @ weight + bias over the last axis.

Layout: weight is (in_features, units) — rows index inputs — and bias is (units,)."""

from nnc.runtime.ops.base import OpDef, ParamSpec, ShapeError, check_rank, glorot_uniform, zeros
from nnc.runtime.schema import Arg, Bool, Int


def shape(x, *, units, bias):
    check_rank(x, 2)
    return (*x[:-1], units)


def params(x, *, units, bias):
    n_in = x[-1]
    if not isinstance(n_in, int):
        raise ShapeError(f"dense needs a static feature size. Received: x: {x}")
    weight = ParamSpec("weight", (n_in, units), glorot_uniform(), fan_in=n_in, fan_out=units)
    if not bias:
        return (weight,)
    return weight, ParamSpec("bias", (units,), zeros(), init_arg="bias_init", regularized=False)


def flops(x, *, units, bias):
    rows = 1
    for d in x[:-1]:
        rows *= d
    return 2 * rows * x[-1] * units


OP = OpDef(
    "dense",
    __doc__,
    shape,
    attrs=(Arg("units", Int(1), doc="output features"), Arg("bias", Bool(), True, "add a bias")),
    params=params,
    flops=flops,
)
