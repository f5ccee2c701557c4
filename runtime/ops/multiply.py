"""multiply: y = x1 * x2 * ... elementwise; all inputs have the same shape (gating)."""

from nnc.runtime.ops.base import OpDef, check_same_shape


def shape(*xs):
    return check_same_shape("multiply", xs)


OP = OpDef("multiply", __doc__, shape, inputs=("x1", "x2"), min_inputs=2, max_inputs=None)
