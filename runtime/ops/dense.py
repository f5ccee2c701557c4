"""dense(units): y = x @ weight + bias over the last axis.

Layout: weight is (in_features, units) — rows index inputs — and bias is (units,).
x may carry extra axes, (N, T, D) -> (N, T, units); gradients sum over every axis but the last:
dx = dy @ weight^T, dweight = x^T dy, dbias = sum dy."""

import numpy as np
from nnc.runtime.ops import rows
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, ShapeError, check_rank, glorot_uniform, zeros
from nnc.runtime.schema import Arg, Bool, Int


def shape(x, *, units, bias):
    check_rank(x, 2)
    return (*x[:-1], units)


def params(x, *, units, bias):
    n_in = x[-1]
    if not isinstance(n_in, int):
        raise ShapeError(f"dense needs a static feature size. Received: x: {x}")
    weight = ParamSpec("weight", (n_in, units), glorot_uniform(), fan_in=n_in, fan_out=units)
    if not bias:
        return (weight,)
    return weight, ParamSpec("bias", (units,), zeros(), init_arg="bias_init", regularized=False)


def flops(x, *, units, bias):
    rows = 1
    for d in x[:-1]:
        rows *= d
    return 2 * rows * x[-1] * units


def forward(ctx, x, w, b=None, *, units, bias):
    # NOTE: `bias` is the attribute (bool); the bias array is `b`, passed only when bias is true.
    y = _rows(x) @ w  # one GEMM over every row (see _rows)
    if b is not None:
        y += b
    return y.reshape(*x.shape[:-1], units), (x, w)


def backward(ctx, dy, cache, *, units, bias):
    x, w = cache
    dy2 = _rows(dy)
    dx = (dy2 @ w.T).reshape(x.shape) if ctx.wants(0) else None
    # the weight gradient goes straight to its place in the flat gradient buffer
    dw = np.matmul(_rows(x).T, dy2, out=ctx.grad_buffer(0)) if ctx.wants(1) else None
    if not bias:
        return dx, dw
    return dx, dw, rows.sum_leading(dy2, out=ctx.grad_buffer(1)) if ctx.wants(2) else None


def _rows(x):
    """x (N, ..., D) as (rows, D), every leading axis a row: a view when x is C-ordered. For
    (N, T, D) NumPy's matmul would run one GEMM per sample, of T rows each: the transformer's
    feed-forward layers took 25% longer that way."""
    return x.reshape(-1, x.shape[-1])


def to_onnx(g, x, w, b=None, *, units, bias):
    # NOTE: Gemm is 2-D only; MatMul broadcasts over leading axes, so (N, T, D) works too.
    y = g.node("MatMul", [x, w])
    return g.node("Add", [y, b]) if b is not None else y


def samples(rng):
    yield Sample(
        (rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)),
        {"units": 5, "bias": True},
    )
    yield Sample((rng.standard_normal((2, 3)), rng.standard_normal((3, 2))), {"units": 2, "bias": False})
    x = rng.standard_normal((2, 3, 4))  # (N, T, D)
    yield Sample((x, rng.standard_normal((4, 3)), rng.standard_normal(3)), {"units": 3, "bias": True})


OP = OpDef(
    "dense",
    __doc__,
    shape,
    attrs=(Arg("units", Int(1), doc="output features"), Arg("bias", Bool(), True, "add a bias")),
    params=params,
    flops=flops,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
