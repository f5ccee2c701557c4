"""positional_encoding(kind=sinusoidal, max_length=none): y[n, t, :] = x[n, t, :] + P[t, :] for
x: (N, T, D).

sinusoidal: P[t, 2i] = sin(t / 10000^(2i / D)), P[t, 2i + 1] = cos(t / 10000^(2i / D)); D even.
learned:    P = weight[:T], a trained table.
max_length bounds T (default: T of the compiled input shape).

Layout: weight (learned only) is (max_length, D) — row t is the vector of position t."""

from nnc.runtime.ops.base import OpDef, ParamSpec, ShapeError, check_rank, format_shape
from nnc.runtime.schema import Arg, Choice, Int, Named, Optional


def shape(x, *, kind, max_length):
    check_rank(x, 3, 3, layout="N, T, D")
    if kind == "sinusoidal" and x[2] % 2:
        raise ShapeError(
            f"sinusoidal positional_encoding needs an even feature size. Received: x: {format_shape(x)}",
            arg="x",
            help="use an even feature size, or kind=learned",
        )
    if max_length is not None and max_length < x[1]:
        raise ShapeError(
            f"positional_encoding needs max_length >= the sequence length {x[1]}. "
            f"Received: max_length={max_length}, x: {format_shape(x)}",
            arg="max_length",
        )
    return x


def params(x, *, kind, max_length):
    if kind == "sinusoidal":
        return ()
    rows = x[1] if max_length is None else max_length
    return (ParamSpec("weight", (rows, x[2]), Named("normal", {"std": 0.02, "mean": 0.0})),)


OP = OpDef(
    "positional_encoding",
    __doc__,
    shape,
    attrs=(
        Arg("kind", Choice(("sinusoidal", "learned")), "sinusoidal", "fixed sin/cos or a trained table"),
        Arg("max_length", Optional(Int(1)), None, "longest sequence; none: the input's length"),
    ),
    params=params,
)
