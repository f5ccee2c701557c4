"""reshape(shape): (N, *dims) -> (N, *shape), row-major; `shape` is per sample (the batch axis
is kept) and one entry may be -1, inferred so that the element count is unchanged. dx = dy reshaped back."""

import math

from nnc.runtime.ops.base import OpDef, Sample, ShapeError, format_shape, size
from nnc.runtime.schema import Arg, Shape, show


def shape(x, *, shape):
    n = size(x)
    known = math.prod(d for d in shape if d != -1)
    wanted = f"shape={show(shape)}"
    if -1 in shape:
        if n % known:
            raise ShapeError(
                f"reshape cannot infer -1: {n} elements per sample are not divisible by "
                f"{known}. Received: x: {format_shape(x)}, {wanted}",
                arg="shape",
            )
        return (x[0], *(n // known if d == -1 else d for d in shape))
    if n != known:
        raise ShapeError(
            f"reshape must keep the element count: x has {n} elements per sample, "
            f"{wanted} has {known}. Received: x: {format_shape(x)}",
            arg="shape",
            help="use -1 for one dimension to infer it",
        )
    return (x[0], *shape)


def forward(ctx, x, *, shape):
    return x.reshape(x.shape[0], *shape), x.shape


def backward(ctx, dy, x_shape, *, shape):
    return (dy.reshape(x_shape),)


def to_onnx(g, x, *, shape):
    # NOTE: 0 copies the input's batch size (allowzero=0, the default), so the batch stays dynamic.
    return g.node("Reshape", [x, g.const([0, *shape], hint="shape")])


def samples(rng):
    yield Sample((rng.standard_normal((2, 12)),), {"shape": (3, -1)})
    yield Sample((rng.standard_normal((2, 3, 4)),), {"shape": (2, 6)})


OP = OpDef(
    "reshape",
    __doc__,
    shape,
    attrs=(Arg("shape", Shape(), doc="per-sample target shape"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
