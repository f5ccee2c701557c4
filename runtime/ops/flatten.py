"""flatten: (N, d1, d2, ...) -> (N, d1 * d2 * ...), row-major (the last axis varies fastest).
dx = dy reshaped back."""

from nnc.runtime.ops.base import OpDef, Sample, check_rank, size


def shape(x):
    check_rank(x, 2)
    return (x[0], size(x))


def forward(ctx, x):
    return x.reshape(x.shape[0], -1), x.shape


def backward(ctx, dy, x_shape):
    return (dy.reshape(x_shape),)


def to_onnx(g, x):
    return g.node("Flatten", [x], axis=1)


def samples(rng):
    yield Sample((rng.standard_normal((2, 3, 2, 2)),))


OP = OpDef("flatten", __doc__, shape, forward=forward, backward=backward, to_onnx=to_onnx, samples=samples)
