"""add: y = x1 + x2 + ...; all inputs have the same shape (a residual or skip connection).
dxi = dy for every input."""

from nnc.runtime.ops.base import OpDef, Sample, chain, check_same_shape


def shape(*xs):
    return check_same_shape("add", xs)


def forward(ctx, *xs):
    y = xs[0] + xs[1]
    for x in xs[2:]:
        y += x
    return y, len(xs)


def backward(ctx, dy, n_inputs):
    # NOTE: every gradient is dy itself, not a copy: a caller accumulating in place must copy.
    return tuple(dy if ctx.wants(i) else None for i in range(n_inputs))


def to_onnx(g, *xs):
    return chain(g, "Add", xs)


def samples(rng):
    yield Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4))))
    yield Sample(tuple(rng.standard_normal((2, 3, 2)) for _ in range(3)))


OP = OpDef(
    "add",
    __doc__,
    shape,
    inputs=("x1", "x2"),
    min_inputs=2,
    max_inputs=None,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
