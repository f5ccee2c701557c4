"""global_max_pool: (N, C, *spatial) -> (N, C), y[n, c] = max of x[n, c] over all spatial axes."""

from nnc.runtime.ops.base import OpDef, check_rank


def shape(x):
    check_rank(x, 3, layout="N, C, *spatial")
    return (x[0], x[1])


OP = OpDef("global_max_pool", __doc__, shape)
