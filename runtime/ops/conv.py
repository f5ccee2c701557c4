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

Kernel: im2col (ops/windows.py) makes per group a (C/groups * taps, N * positions) matrix, and
the whole layer is one batched GEMM over the groups: y = weight (G, F/G, C/G * taps) @ cols,
the bias riding along as one more weight column against a row of ones.
Backward reuses the cached columns: dweight = dy @ cols^T, dcols = weight^T @ dy, and col2im
adds dcols back into dx. The output is a (N, F, *out) view of an (F, N, *out) array; elementwise
ops that follow keep that layout, so the incoming dy reshapes to (F, N * positions) for free."""

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
        rows = x.shape[1] // groups * math.prod(kernel)
        # (G, C/G * taps [+ a row of ones], N * P): the ones make the GEMM add the bias, and
        # the weight gradient's GEMM sum dy for the bias gradient, saving a pass over y and dy.
        cols = np.empty((groups, rows + (b is not None), x.shape[0] * math.prod(out)), x.dtype)
        view = windows.windows(windows.pad(x, pads), kernel, stride, dilation, out)
        np.copyto(
            cols[:, :rows].reshape(groups, -1, *view.shape[1:]), view.reshape(groups, -1, *view.shape[1:])
        )
        w = weight.reshape(groups, filters // groups, rows)
        if b is None:
            y = w @ cols
        else:
            cols[:, rows] = 1
            y = np.concatenate([w, b.reshape(groups, -1, 1)], axis=2) @ cols
        y = y.reshape(filters, x.shape[0], *out)
        return y.transpose(1, 0, *range(2, rank + 2)), (cols, w, x.shape, pads, out)

    def backward(ctx, dy, cache, *, filters, kernel, stride, padding, dilation, groups, bias):
        cols, w, x_shape, pads, out = cache
        dy = dy.transpose(1, 0, *range(2, rank + 2))  # (F, N, *out): free for our own layout
        dy_rows = dy.reshape(groups, filters // groups, -1)
        dweight = dbias = None
        if ctx.wants(1) or (bias and ctx.wants(2)):
            # (cols @ dy^T)^T: the faster operand order for BLAS here
            both = (cols @ dy_rows.transpose(0, 2, 1)).transpose(0, 2, 1)  # (G, F/G, rows [+ 1])
            dweight = both[:, :, : w.shape[2]].reshape(filters, -1, *kernel) if ctx.wants(1) else None
            dbias = both[:, :, -1].reshape(filters) if bias and ctx.wants(2) else None
        dx = None
        if ctx.wants(0):
            padded = windows.padded_shape(x_shape, pads)[2:]
            channels, batch = x_shape[1], x_shape[0]
            if all(s == 1 for s in stride):
                wide = windows.widen(dy, padded).reshape(groups, filters // groups, -1)
                dcols = (w.transpose(0, 2, 1) @ wide).reshape(channels, *kernel, batch, -1)
                dx = windows.col2im_wide(dcols, padded, dilation)
            else:
                dcols = (w.transpose(0, 2, 1) @ dy_rows).reshape(channels, *kernel, batch, *out)
                dx = windows.col2im(dcols, padded, stride, dilation)
            dx = windows.crop(dx, pads, x_shape[2:])
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
