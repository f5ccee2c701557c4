"""concat(axis=-1): y = the inputs joined along axis (never the batch axis); all inputs have one
rank and equal sizes on every other axis. dxi = the slice of dy where xi was placed."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, ShapeError, format_shape, normalize_axis
from nnc.runtime.schema import Arg, Int


def shape(*xs, axis):
    first = xs[0]
    full = normalize_axis(axis, len(first))
    for i, x in enumerate(xs[1:], start=2):
        if len(x) != len(first) or any(
            a != b for j, (a, b) in enumerate(zip(first, x, strict=True)) if j != full
        ):
            raise ShapeError(
                f"concat along axis {axis} needs inputs equal on every other axis. Received: "
                f"input 1: {format_shape(first)}, input {i}: {format_shape(x)}",
                arg=f"x{i}",
                help="reshape, flatten or project the inputs so only the concat axis differs",
            )
    return (*first[:full], sum(x[full] for x in xs), *first[full + 1 :])


def forward(ctx, *xs, axis):
    ends = np.cumsum([x.shape[axis] for x in xs])
    return np.concatenate(xs, axis=axis), ends[:-1]


def backward(ctx, dy, splits, *, axis):
    parts = np.split(dy, splits, axis=axis)
    return tuple(dx if ctx.wants(i) else None for i, dx in enumerate(parts))


def to_onnx(g, *xs, axis):
    return g.node("Concat", list(xs), axis=axis)


def samples(rng):
    yield Sample((rng.standard_normal((2, 3)), rng.standard_normal((2, 5))), {"axis": -1})
    yield Sample(
        (rng.standard_normal((2, 1, 3)), rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 3, 3))),
        {"axis": 1},
    )


OP = OpDef(
    "concat",
    __doc__,
    shape,
    inputs=("x1", "x2"),
    min_inputs=2,
    max_inputs=None,
    attrs=(Arg("axis", Int(), -1, "axis to join along"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
