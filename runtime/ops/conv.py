"""conv1d / conv2d(filters, kernel, stride=1, padding=valid, dilation=1, groups=1, bias=true):
channels-first cross-correlation, as ONNX Conv and PyTorch.

x: (N, C, *spatial) -> y: (N, filters, *out), for output channel f and position p
    y[n, f, p] = bias[f] + sum_{c, k} weight[f, c, k] * xpad[n, g * C/groups + c, p * stride + k * dilation]
with g = f // (filters / groups) the group of f and xpad x zero-padded by (begins, ends).
out = floor((size + begin + end - dilation * (kernel - 1) - 1) / stride) + 1; padding=same gives
out = ceil(size / stride), the extra padding at the end (ONNX SAME_UPPER).

Layout: weight is (filters, C // groups, *kernel) — PyTorch's and ONNX's — and bias is (filters,).
Initializer fans follow Keras and PyTorch: fan_in = C // groups * prod(kernel),
fan_out = filters * prod(kernel).

Kernel: spatial-major. The output is a (N, F, *out) view of a (*out, N, F) array, batch and
channels innermost. Pools, relus and the next convolution keep that layout, so their passes run
over whole rows of N * F values (a 2x2 pool's taps on a channels-first layout are rows only out
long) and the incoming dy reshapes to (positions * N, F) for free.
im2col (windows.gather) makes per group a (positions * N, taps * C/G) matrix, channels innermost,
and the layer is one GEMM per group: y = cols @ weight^T, the bias riding along as one more
column of ones. Backward reuses the columns: dweight = cols^T @ dy, the faster operand order for
BLAS here. dx skips the columns: per kernel tap, dy @ (that tap's weights) is added into the
tap's window of a spatial-major dx (_input_gradient)."""

import math

import numpy as np
from nnc.runtime.ops import windows
from nnc.runtime.ops.base import (
    OpDef,
    ParamSpec,
    Sample,
    ShapeError,
    check_rank,
    flat_padding,
    glorot_uniform,
    resolve_padding,
    size,
    window_sizes,
    zeros,
)
from nnc.runtime.schema import Arg, Bool, Int, Ints, Padding

_LAYOUTS = {1: "N, C, L", 2: "N, C, H, W"}


def _make(rank: int) -> OpDef:
    name = f"conv{rank}d"

    def shape(x, *, filters, kernel, stride, padding, dilation, groups, bias):
        check_rank(x, rank + 2, rank + 2, layout=_LAYOUTS[rank])
        channels = x[1]
        for what, count in (("input channels", channels), ("filters", filters)):
            if count % groups:
                raise ShapeError(
                    f"{name} needs {what} divisible by groups. Received: {what} {count}, groups={groups}",
                    arg="groups",
                    help="groups must divide both the input channels and filters",
                )
        return (x[0], filters, *window_sizes(name, x, kernel, stride, dilation, padding, arg="kernel"))

    def params(x, *, filters, kernel, stride, padding, dilation, groups, bias):
        window = math.prod(kernel)
        weight = ParamSpec(
            "weight",
            (filters, x[1] // groups, *kernel),
            glorot_uniform(),
            fan_in=x[1] // groups * window,
            fan_out=filters * window,
        )
        if not bias:
            return (weight,)
        return weight, ParamSpec("bias", (filters,), zeros(), init_arg="bias_init", regularized=False)

    def flops(x, **attrs):
        y = shape(x, **attrs)
        return 2 * size(y) * (x[1] // attrs["groups"]) * math.prod(attrs["kernel"])

    def forward(ctx, x, weight, b=None, *, filters, kernel, stride, padding, dilation, groups, bias):
        # NOTE: `bias` is the attribute (bool); the bias array is `b`, passed only when bias is true.
        pads = resolve_padding(padding, x.shape[2:], kernel, stride, dilation)
        out = window_sizes(name, x.shape, kernel, stride, dilation, padding, arg="kernel")
        batch, per_group = x.shape[0], x.shape[1] // groups
        rows = math.prod(kernel) * per_group
        # (G, positions * N, taps * C/G [+ a one]): the ones make the GEMM add the bias, and the
        # weight gradient's GEMM sum dy for the bias gradient, saving a pass over y and dy.
        cols = np.empty((groups, math.prod(out) * batch, rows + (b is not None)), x.dtype)
        gathered = cols[:, :, :rows].reshape(groups, *out, batch, *kernel, per_group)
        windows.gather(windows.pad(x, pads), kernel, stride, dilation, out, gathered)
        # weight (F, C/G, *kernel) in the columns' order: (G, F/G, taps * C/G [+ bias])
        w = np.empty((groups, filters // groups, cols.shape[2]), weight.dtype)
        w[:, :, :rows].reshape(groups, filters // groups, -1, per_group)[...] = weight.reshape(
            groups, filters // groups, per_group, -1
        ).transpose(0, 1, 3, 2)
        if b is not None:
            cols[:, :, rows] = 1
            w[:, :, rows] = b.reshape(groups, -1)
        y = _grouped_matmul(cols, w.transpose(0, 2, 1))  # (G, positions * N, F/G)
        y = y[0] if groups == 1 else y.transpose(1, 0, 2).reshape(-1, filters)
        y = y.reshape(*out, batch, filters)
        return y.transpose(rank, rank + 1, *range(rank)), (cols, w, x.shape, pads, out)

    def backward(ctx, dy, cache, *, filters, kernel, stride, padding, dilation, groups, bias):
        cols, w, x_shape, pads, out = cache
        rows = w.shape[2] - bias
        # (positions * N, F): free for our own spatial-major layout, a copy otherwise
        dy = dy.transpose(*range(2, rank + 2), 0, 1).reshape(-1, groups, filters // groups)
        dy = dy.transpose(1, 0, 2)  # (G, positions * N, F/G)
        dweight = dbias = None
        if ctx.wants(1) or (bias and ctx.wants(2)):
            # (G, taps * C/G [+ 1], F/G); this operand order is the faster one for BLAS here
            both = _grouped_matmul(cols.transpose(0, 2, 1), dy)
            if ctx.wants(1):
                per_group = x_shape[1] // groups
                dweight = both[:, :rows].reshape(groups, -1, per_group, filters // groups)
                dweight = dweight.transpose(0, 3, 2, 1).reshape(filters, per_group, *kernel)
            dbias = both[:, -1].reshape(filters) if bias and ctx.wants(2) else None
        dx = None
        if ctx.wants(0):
            dx = _input_gradient(dy, w[:, :, :rows], x_shape, kernel, stride, dilation, pads, out)
        return (dx, dweight, dbias) if bias else (dx, dweight)

    def to_onnx(g, x, weight, b=None, *, filters, kernel, stride, padding, dilation, groups, bias):
        return g.node(
            "Conv",
            [x, weight] + ([b] if b is not None else []),
            kernel_shape=list(kernel),
            strides=list(stride),
            pads=list(padding),  # explicit (begins..., ends...): derive resolved "same"
            dilations=list(dilation),
            group=groups,
        )

    def derive(x, *, filters, kernel, stride, padding, dilation, groups, bias):
        # "same" becomes explicit pads here, where the input size is known, so the exporter
        # (which sees no shapes) writes the runtime's exact split.
        pads = resolve_padding(padding, x[2:], kernel, stride, dilation)
        return {"padding": flat_padding(pads)}

    def samples(rng):
        for x_shape, attrs in _samples(rank):
            attrs = {"stride": (1,) * rank, "dilation": (1,) * rank, "groups": 1, "bias": True} | attrs
            attrs |= derive(x_shape, **attrs)
            specs = params(x_shape, **attrs)
            yield Sample(
                (rng.standard_normal(x_shape), *(rng.standard_normal(s.shape) for s in specs)), attrs
            )

    attrs = (
        Arg("filters", Int(1), doc="output channels"),
        Arg("kernel", Ints(rank), doc="window size per spatial axis"),
        Arg("stride", Ints(rank), 1, "step per spatial axis"),
        Arg("padding", Padding(rank), "valid", "same, valid, or zero padding per side"),
        Arg("dilation", Ints(rank), 1, "spacing between kernel taps"),
        Arg("groups", Int(1), 1, "channel groups convolved separately"),
        Arg("bias", Bool(), True, "add a bias"),
    )
    return OpDef(
        name,
        __doc__,
        shape,
        attrs=attrs,
        params=params,
        flops=flops,
        forward=forward,
        backward=backward,
        derive=derive,
        samples=samples,
        to_onnx=to_onnx,
    )


def _grouped_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a (G, m, k) @ b (G, k, n). One group is a plain 2-D GEMM: numpy's stacked matmul takes a
    slower path for transposed operands (3.8 ms instead of 3.2 for the CNN's weight gradient);
    several stay one stacked call, as a loop of small GEMMs would pay per call."""
    if a.shape[0] == 1:
        return np.matmul(a[0], b[0], out=None if out is None else out[0])[None]
    return np.matmul(a, b, out=out)


def _input_gradient(dy, w, x_shape, kernel, stride, dilation, pads, out):
    """dx from dy (G, positions * N, F/G) and the weight in column order (G, F/G, taps * C/G),
    without the (positions * N, taps * C/G) columns col2im would add back: per kernel tap, one
    GEMM gives that tap's (positions * N, C/G) share, added into a spatial-major
    (*padded, N, G, C/G) buffer. Each add then reads a contiguous share and writes runs of whole
    rows, where adding strided column slices was twice as slow."""
    groups, batch, rank = dy.shape[0], x_shape[0], len(out)
    per_group = x_shape[1] // groups
    padded = windows.padded_shape(x_shape, pads)[2:]
    w_taps = w.reshape(groups, w.shape[1], -1, per_group)  # (G, F/G, taps, C/G)
    buffer = np.zeros((*padded, batch, groups, per_group), dy.dtype)
    share = np.empty((groups, dy.shape[1], per_group), dy.dtype)
    for t, tap in enumerate(np.ndindex(*kernel)):
        _grouped_matmul(dy, w_taps[:, :, t], out=share)
        region = buffer[windows.tap_region(tap, stride, dilation, out)]  # (*out, N, G, C/G)
        region += np.moveaxis(share.reshape(groups, *out, batch, per_group), 0, -2)
    dx = buffer.reshape(*padded, batch, x_shape[1]).transpose(rank, rank + 1, *range(rank))
    return windows.crop(dx, pads, x_shape[2:])


def _samples(rank: int):
    """(x shape, attributes) pairs covering stride, explicit and same padding, dilation, groups
    (depthwise too) and odd sizes; small, as the gradient check perturbs every element."""
    if rank == 1:
        yield (2, 3, 7), {"filters": 4, "kernel": (3,), "padding": (0, 0)}
        yield (2, 4, 9), {"filters": 2, "kernel": (2,), "stride": (2,), "padding": (1, 2), "bias": False}
        yield (1, 2, 8), {"filters": 3, "kernel": (3,), "stride": (2,), "padding": "same", "dilation": (2,)}
        yield (2, 4, 6), {"filters": 6, "kernel": (3,), "groups": 2, "padding": (1, 1)}
        return
    yield (2, 3, 5, 6), {"filters": 4, "kernel": (3, 3), "padding": (0, 0, 0, 0)}
    yield (2, 2, 7, 5), {"filters": 3, "kernel": (3, 2), "stride": (2, 1), "padding": (1, 0, 2, 1)}
    yield (
        (1, 2, 7, 7),
        {"filters": 2, "kernel": (3, 3), "stride": (2, 2), "padding": "same", "dilation": (2, 1)},
    )
    yield (
        (2, 4, 5, 5),
        {
            "filters": 4,
            "kernel": (3, 3),
            "groups": 4,
            "padding": (1, 1, 1, 1),
            "dilation": (1, 2),
            "bias": False,
        },
    )
    yield (1, 4, 4, 5), {"filters": 6, "kernel": (2, 2), "groups": 2, "stride": (2, 2), "padding": (0,) * 4}


CONV1D = _make(1)
CONV2D = _make(2)
OPS = (CONV1D, CONV2D)
