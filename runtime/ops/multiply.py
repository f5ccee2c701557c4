"""multiply: y = x1 * x2 * ... elementwise; all inputs have the same shape (gating).
dxi = dy * (product of every other input)."""

from nnc.runtime.ops.base import OpDef, Sample, chain, check_same_shape


def shape(*xs):
    return check_same_shape("multiply", xs)


def forward(ctx, *xs):
    y = xs[0] * xs[1]
    for x in xs[2:]:
        y *= x
    return y, xs


def backward(ctx, dy, xs):
    # products of the others, not y / xi: an input may hold zeros
    grads = []
    for i in range(len(xs)):
        dx = None
        if ctx.wants(i):
            dx = dy.copy()
            for j, x in enumerate(xs):
                if j != i:
                    dx *= x
        grads.append(dx)
    return tuple(grads)


def to_onnx(g, *xs):
    return chain(g, "Mul", xs)


def samples(rng):
    yield Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4))))
    yield Sample(tuple(rng.standard_normal((2, 3, 2)) for _ in range(3)))


OP = OpDef(
    "multiply",
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
