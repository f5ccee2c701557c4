"""add: y = x1 + x2 + ...; all inputs have the same shape (a residual or skip connection)."""

from nnc.runtime.ops.base import OpDef, ShapeError, format_shape


def shape(*xs):
    first = xs[0]
    for i, x in enumerate(xs[1:], start=2):
        if tuple(x) != tuple(first):
            raise ShapeError(f"add needs inputs of one shape. Received: input 1: {format_shape(first)}, "
                             f"input {i}: {format_shape(x)}", arg=f"x{i}",
                             help="project one input with dense(...) or conv to match the other")
    return first


OP = OpDef("add", __doc__, shape, inputs=("x1", "x2"), min_inputs=2, max_inputs=None)
