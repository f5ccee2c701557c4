"""positional_encoding(kind=sinusoidal, max_length=none): y[n, t, :] = x[n, t, :] + P[t, :] for
x: (N, T, D).

sinusoidal: P[t, 2i] = sin(t / 10000^(2i / D)), P[t, 2i + 1] = cos(t / 10000^(2i / D)); D even.
            Computed in float64 for the length at hand, so any length works.
learned:    P = weight[:T], a trained table of max_length rows (default: T of the compiled
            input), so sequences up to max_length work.
max_length bounds T when given.

Layout: weight (learned only) is (max_length, D) — row t is the vector of position t.
Backward: dx = dy; dweight[:T] = sum over the batch of dy, the rows past T get zero."""

import functools

import numpy as np
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, ShapeError, check_rank, format_shape
from nnc.runtime.schema import Arg, Choice, Int, Named, Optional


def shape(x, *, kind, max_length):
    check_rank(x, 3, 3, layout="N, T, D")
    if kind == "sinusoidal" and x[2] % 2:
        raise ShapeError(
            f"sinusoidal positional_encoding needs an even feature size. Received: x: {format_shape(x)}",
            arg="x",
            help="use an even feature size, or kind=learned",
        )
    # A symbolic length (the exporter asking whether any length works) is bounded at run time.
    if isinstance(x[1], int) and max_length is not None and max_length < x[1]:
        raise ShapeError(
            f"positional_encoding needs max_length >= the sequence length {x[1]}. "
            f"Received: max_length={max_length}, x: {format_shape(x)}",
            arg="max_length",
        )
    return x


def derive(x, *, kind, max_length):
    # The learned table's size is fixed at compile time, so the IR and the exporter see it.
    return {"max_length": x[1] if max_length is None and kind == "learned" else max_length}


def params(x, *, kind, max_length):
    if kind == "sinusoidal":
        return ()
    rows = x[1] if max_length is None else max_length
    return (ParamSpec("weight", (rows, x[2]), Named("normal", {"std": 0.02, "mean": 0.0})),)


@functools.lru_cache(maxsize=16)
def sinusoids(length: int, width: int, dtype: str) -> np.ndarray:
    """The (length, width) sinusoidal table, read-only; built once per size (training asks for
    the same one every step)."""
    pairs = (np.arange(width) // 2 * 2).astype(np.float64)  # 2i for columns 2i and 2i + 1
    angles = np.arange(length, dtype=np.float64)[:, None] * np.power(10000.0, -pairs / width)
    table = np.where(np.arange(width) % 2 == 0, np.sin(angles), np.cos(angles)).astype(dtype)
    table.flags.writeable = False
    return table


def _check_length(x, max_length):
    if max_length is not None and x.shape[1] > max_length:
        raise ValueError(
            f"positional_encoding got a sequence of length {x.shape[1]}, longer than max_length={max_length}"
        )


def forward(ctx, x, weight=None, *, kind, max_length):
    _check_length(x, max_length)
    steps, width = x.shape[1:]
    table = sinusoids(steps, width, x.dtype.name) if kind == "sinusoidal" else weight[:steps]
    return x + table, steps


def backward(ctx, dy, steps, *, kind, max_length):
    dx = dy if ctx.wants(0) else None
    if kind == "sinusoidal":
        return (dx,)
    dweight = None
    if ctx.wants(1):
        dweight = np.zeros((max_length, dy.shape[2]), dy.dtype)
        dweight[:steps] = dy.sum(axis=0)
    return dx, dweight


def to_onnx(g, x, weight=None, *, kind, max_length):
    shape = g.node("Shape", [x])
    steps = g.node("Slice", [shape, g.const([1], hint="start"), g.const([2], hint="stop")])  # [T]
    if kind == "learned":
        table = g.node("Slice", [weight, g.const([0], hint="start"), steps, g.const([0], hint="axes")])
        return g.node("Add", [x, table])
    # The table from the runtime's formula, in double as the runtime computes it, then cast.
    width = g.node("Slice", [shape, g.const([2], hint="start"), g.const([3], hint="stop")])  # [D]
    scalar = g.const([], np.int64, "scalar_shape")

    def arange(stop):
        return g.node(
            "Range", [g.const(0, hint="zero"), g.node("Reshape", [stop, scalar]), g.const(1, hint="one")]
        )

    columns = arange(width)  # (D,) int64
    two = g.const(2, hint="two")
    pairs = g.node("Cast", [g.node("Mul", [g.node("Div", [columns, two]), two])], to=11)  # 2i, double
    exponent = g.node("Div", [g.node("Neg", [pairs]), g.node("Cast", [width], to=11)])
    rates = g.node("Pow", [g.const(10000.0, np.float64, "base"), exponent])  # (D,)
    positions = g.node("Cast", [g.node("Unsqueeze", [arange(steps), g.const([1], hint="axes")])], to=11)
    angles = g.node("Mul", [positions, rates])  # (T, D)
    even = g.node("Equal", [g.node("Mod", [columns, two]), g.const(0, hint="zero")])
    table = g.node("Where", [even, g.node("Sin", [angles]), g.node("Cos", [angles])])
    return g.node("Add", [x, g.node("Cast", [table], to=1)])


def samples(rng):
    x = rng.standard_normal((2, 5, 4))
    yield Sample((x,), {"kind": "sinusoidal", "max_length": None})
    yield Sample((x, rng.standard_normal((7, 4))), {"kind": "learned", "max_length": 7})


OP = OpDef(
    "positional_encoding",
    __doc__,
    shape,
    attrs=(
        Arg("kind", Choice(("sinusoidal", "learned")), "sinusoidal", "fixed sin/cos or a trained table"),
        Arg("max_length", Optional(Int(1)), None, "longest sequence; none: the input's length"),
    ),
    params=params,
    derive=derive,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
