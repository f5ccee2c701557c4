"""sequence_pool(mode=mean): (N, T, D) -> (N, D), reducing the time axis:
mean: y = mean_t x[:, t];  max: y = max_t x[:, t];  first: y = x[:, 0];  last: y = x[:, T - 1]."""

from nnc.runtime.ops.base import OpDef, check_rank
from nnc.runtime.schema import Arg, Choice


def shape(x, *, mode):
    check_rank(x, 3, 3, layout="N, T, D")
    return (x[0], x[2])


OP = OpDef(
    "sequence_pool",
    __doc__,
    shape,
    attrs=(Arg("mode", Choice(("mean", "max", "first", "last")), "mean", "how to reduce time"),),
)
