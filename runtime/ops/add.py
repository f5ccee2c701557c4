"""add: y = x1 + x2 + ...; all inputs have the same shape (a residual or skip connection)."""

from nnc.runtime.ops.base import OpDef, check_same_shape


def shape(*xs):
    return check_same_shape("add", xs)


OP = OpDef("add", __doc__, shape, inputs=("x1", "x2"), min_inputs=2, max_inputs=None)
