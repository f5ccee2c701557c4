"""flatten: (N, d1, d2, ...) -> (N, d1 * d2 * ...), row-major (the last axis varies fastest)."""

from nnc.runtime.ops.base import OpDef, check_rank, size


def shape(x):
    check_rank(x, 2)
    return (x[0], size(x))


OP = OpDef("flatten", __doc__, shape)
