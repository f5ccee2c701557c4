"""embedding(vocab, dim, padding_index=none): y[n, ..., :] = weight[x[n, ...], :], a row lookup.

x: int64 indices in [0, vocab), shape (N, *rest) -> y: (N, *rest, dim). The data checks refuse
ids outside that range before they reach the kernel (NumPy would wrap a negative one silently).
With padding_index, that index reads as a zero vector whatever its row holds, and its row gets
no gradient — PyTorch's padding_idx, except that the zero does not depend on the row staying
zero, so loaded or regularized weights cannot leak into padded positions.

Layout: weight is (vocab, dim) — row i is the vector of index i.
Backward: dweight[i] = sum of dy over the positions holding index i (none for padding_index)."""

import numpy as np
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, ShapeError
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


def forward(ctx, x, weight, *, vocab, dim, padding_index):
    y = weight[x]  # fancy indexing copies: y is ours to write
    if padding_index is not None:
        y[x == padding_index] = 0
    return y, x


def backward(ctx, dy, x, *, vocab, dim, padding_index):
    if not ctx.wants(1):
        return None, None
    ids, rows = x.reshape(-1), dy.reshape(-1, dim)
    if padding_index is not None:
        keep = ids != padding_index
        ids, rows = ids[keep], rows[keep]
    dweight = np.zeros((vocab, dim), dy.dtype)
    np.add.at(dweight, ids, rows)  # an index may repeat: its gradients add
    return None, dweight


def to_onnx(g, x, weight, *, vocab, dim, padding_index):
    y = g.node("Gather", [weight, x], axis=0)
    if padding_index is None:
        return y
    # zero where x == padding_index: (N, ..., 1) keep factors broadcast over the vector
    keep = g.node("Cast", [g.node("Not", [g.node("Equal", [x, g.const(padding_index)])])], to=1)
    return g.node("Mul", [y, g.node("Unsqueeze", [keep, g.const([-1], hint="axes")])])


def samples(rng):
    ids = np.array([[0, 3, 1, 3], [2, 2, 0, 4]], np.int64)  # (N, T), repeated indices
    yield Sample((ids, rng.standard_normal((5, 3))), {"vocab": 5, "dim": 3, "padding_index": None})
    yield Sample((ids, rng.standard_normal((5, 3))), {"vocab": 5, "dim": 3, "padding_index": 0})
    yield Sample((ids[:, :3], rng.standard_normal((6, 2))), {"vocab": 6, "dim": 2, "padding_index": 3})


OP = OpDef(
    "embedding",
    __doc__,
    shape,
    input_dtypes=("int64",),
    attrs=(
        Arg("vocab", Int(1), doc="number of distinct indices"),
        Arg("dim", Int(1), doc="vector size"),
        Arg("padding_index", Optional(Int(0)), None, "an index whose vector is zero and never trained"),
    ),
    params=params,
    index_limit=lambda *, vocab, dim, padding_index: vocab,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
