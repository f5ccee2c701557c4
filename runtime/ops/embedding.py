"""embedding(vocab, dim, padding_index=none): y[n, ..., :] = weight[x[n, ...], :], a row lookup.

x: int64 indices in [0, vocab), shape (N, *rest) -> y: (N, *rest, dim). With padding_index,
that row is initialized to zeros and never updated (its gradient is dropped), as PyTorch.

Layout: weight is (vocab, dim) — row i is the vector of index i."""

from nnc.runtime.ops.base import OpDef, ParamSpec, ShapeError
from nnc.runtime.schema import Arg, Int, Named, Optional


def shape(x, *, vocab, dim, padding_index):
    if padding_index is not None and padding_index >= vocab:
        raise ShapeError(
            f"embedding needs padding_index < vocab. Received: padding_index={padding_index}, vocab={vocab}",
            arg="padding_index",
        )
    return (*x, dim)


def params(x, *, vocab, dim, padding_index):
    return (ParamSpec("weight", (vocab, dim), Named("normal", {"std": 0.05, "mean": 0.0})),)


OP = OpDef(
    "embedding",
    __doc__,
    shape,
    input_dtypes=("int64",),
    attrs=(
        Arg("vocab", Int(1), doc="number of distinct indices"),
        Arg("dim", Int(1), doc="vector size"),
        Arg("padding_index", Optional(Int(0)), None, "an index whose vector stays zero"),
    ),
    params=params,
)
