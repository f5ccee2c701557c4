"""conv2d_transpose(filters, kernel, stride=1, padding=valid, output_padding=0, dilation=1,
bias=true): the gradient of conv2d with respect to its input, as ONNX ConvTranspose.

x: (N, C, H, W) -> y: (N, filters, H', W'); every input position scatters a window:
    full[n, f, i * stride + k * dilation] += sum_c x[n, c, i] * weight[c, f, k]
then y = full cropped by (begin, end) per axis, output_padding extra rows/columns at the end, plus
bias[f]. Per spatial axis
    out = (size - 1) * stride - begin - end + dilation * (kernel - 1) + output_padding + 1;
padding=same gives out = size * stride, and then output_padding must stay 0: it is the exact
gradient of conv2d(padding=same, stride) on that output (Keras' and TensorFlow's rule), so the
compiler resolves it to an explicit crop of total // 2 at the begin, the rest at the end, with
total = (size - 1) * stride + dilation * (kernel - 1) + 1 - size * stride, or to output_padding
-total where total < 0. output_padding must be smaller than stride or dilation (PyTorch's rule).

Layout: weight is (C, filters, kh, kw) — ONNX ConvTranspose's, rows index inputs — and bias is
(filters,). Initializer fans follow Keras and PyTorch: fan_in = filters * kh * kw,
fan_out = C * kh * kw.

Kernel: the forward is conv2d's input gradient, one GEMM then col2im (ops/windows.py):
cols = weight^T (filters * taps, C) @ x (C, N * H * W), added window by window into the output.
Backward is a convolution: im2col of dy gives dx = weight @ cols and dweight = x @ cols^T."""

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
    format_shape,
    glorot_uniform,
    same_padding,
    size,
    zeros,
)
from nnc.runtime.schema import Arg, Bool, Int, Ints, Padding, show


def shape(x, *, filters, kernel, stride, padding, output_padding, dilation, bias):
    check_rank(x, 4, 4, layout="N, C, H, W")
    for extra, s, d in zip(output_padding, stride, dilation, strict=True):
        if extra >= s and extra >= d:
            raise ShapeError(
                f"conv2d_transpose needs output_padding smaller than stride or dilation. "
                f"Received: output_padding={show(output_padding)}, stride={show(stride)}, "
                f"dilation={show(dilation)}",
                arg="output_padding",
            )
    if padding == "same":
        if any(output_padding):
            raise ShapeError(
                f"conv2d_transpose with padding=same gives size * stride; output_padding "
                f"has no place. Received: output_padding={show(output_padding)}",
                arg="output_padding",
                help="drop output_padding, or give explicit padding",
            )
        return (x[0], filters, *(n * s for n, s in zip(x[2:], stride, strict=True)))
    out = []
    for axis in range(2):
        n, k, s, d = x[2 + axis], kernel[axis], stride[axis], dilation[axis]
        m = (n - 1) * s - padding[axis] - padding[2 + axis] + d * (k - 1) + output_padding[axis] + 1
        if m < 1:
            raise ShapeError(
                f"conv2d_transpose output would be empty along axis {2 + axis}: padding "
                f"{show(padding)} crops more than the {m + padding[axis] + padding[2 + axis]} "
                f"positions produced. Received: x: {format_shape(x)}",
                arg="padding",
            )
        out.append(m)
    return (x[0], filters, *out)


def params(x, *, filters, kernel, stride, padding, output_padding, dilation, bias):
    window = math.prod(kernel)
    weight = ParamSpec(
        "weight", (x[1], filters, *kernel), glorot_uniform(), fan_in=filters * window, fan_out=x[1] * window
    )
    if not bias:
        return (weight,)
    return weight, ParamSpec("bias", (filters,), zeros(), init_arg="bias_init", regularized=False)


def flops(x, *, filters, kernel, **_attrs):
    return 2 * size(x) * filters * math.prod(kernel)


def derive(x, *, filters, kernel, stride, padding, output_padding, dilation, bias):
    if padding != "same":
        return {}
    crops, extra = [], []
    for n, k, s, d in zip(x[2:], kernel, stride, dilation, strict=True):
        total = (n - 1) * s + d * (k - 1) + 1 - n * s
        crops.append(same_padding(n * s, k, s, d) if total >= 0 else (0, 0))
        extra.append(max(0, -total))
    return {"padding": flat_padding(crops), "output_padding": tuple(extra)}


def _geometry(x_shape, kernel, stride, padding, output_padding, dilation):
    """Per spatial axis: the (begin, end) crop, the output size, and the size of the buffer the
    windows are added into (the full extent, or more where output_padding reaches past it)."""
    rank = len(kernel)
    pads = tuple(zip(padding[:rank], padding[rank:], strict=True))
    out, buffer = [], []
    for n, k, s, d, extra, (begin, end) in zip(
        x_shape[2:], kernel, stride, dilation, output_padding, pads, strict=True
    ):
        full = (n - 1) * s + d * (k - 1) + 1
        out.append(full - begin - end + extra)
        buffer.append(max(full, begin + out[-1]))
    return pads, tuple(out), tuple(buffer)


def forward(ctx, x, weight, b=None, *, filters, kernel, stride, padding, output_padding, dilation, bias):
    # NOTE: `bias` is the attribute (bool); the bias array is `b`, passed only when bias is true.
    pads, out, buffer = _geometry(x.shape, kernel, stride, padding, output_padding, dilation)
    rank = len(kernel)
    channels = x.shape[1]
    x_rows = x.transpose(1, 0, *range(2, rank + 2)).reshape(channels, -1)  # (C, N * H * W)
    w = weight.reshape(channels, -1)  # (C, filters * taps)
    cols = (w.T @ x_rows).reshape(filters, *kernel, x.shape[0], *x.shape[2:])
    y = windows.crop(windows.col2im(cols, buffer, stride, dilation), pads, out)
    if b is not None:
        y = y + b.reshape(filters, *(1,) * rank)
    return y, (x_rows, w, x.shape, pads, buffer)


def backward(ctx, dy, cache, *, filters, kernel, stride, padding, output_padding, dilation, bias):
    x_rows, w, x_shape, pads, buffer = cache
    rank = len(kernel)
    around = [(begin, m - begin - n) for (begin, _), m, n in zip(pads, buffer, dy.shape[2:], strict=True)]
    cols = np.ascontiguousarray(
        windows.windows(windows.pad(dy, around), kernel, stride, dilation, x_shape[2:])
    )
    cols = cols.reshape(w.shape[1], -1)  # (filters * taps, N * H * W)
    dx = None
    if ctx.wants(0):
        dx = (w @ cols).reshape(x_shape[1], x_shape[0], *x_shape[2:]).transpose(1, 0, *range(2, rank + 2))
    dweight = (x_rows @ cols.T).reshape(x_shape[1], filters, *kernel) if ctx.wants(1) else None
    if not bias:
        return dx, dweight
    return dx, dweight, dy.sum(axis=(0, *range(2, rank + 2))) if ctx.wants(2) else None


def to_onnx(g, x, weight, b=None, *, filters, kernel, stride, padding, output_padding, dilation, bias):
    return g.node(
        "ConvTranspose",
        [x, weight] + ([b] if b is not None else []),
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=list(padding),  # explicit (begins..., ends...): derive resolved "same"
        output_padding=list(output_padding),
        dilations=list(dilation),
    )


def samples(rng):
    """Stride, crops, output_padding, dilation, same padding both ways (a crop, and the
    output_padding it becomes when stride exceeds the window), odd sizes, no bias."""
    cases = [
        ((2, 3, 3, 4), {"filters": 2, "kernel": (3, 3)}),
        ((2, 2, 3, 3), {"filters": 3, "kernel": (3, 2), "stride": (2, 2), "padding": (1, 0, 0, 1)}),
        ((1, 2, 3, 2), {"filters": 2, "kernel": (3, 3), "stride": (2, 3), "output_padding": (1, 2)}),
        ((2, 2, 3, 3), {"filters": 2, "kernel": (2, 3), "dilation": (2, 1), "bias": False}),
        ((2, 2, 2, 3), {"filters": 2, "kernel": (3, 3), "stride": (2, 2), "padding": "same"}),
        ((1, 3, 3, 2), {"filters": 2, "kernel": (1, 2), "stride": (3, 2), "padding": "same"}),
    ]
    for x_shape, attrs in cases:
        attrs = {
            "stride": (1, 1),
            "padding": (0, 0, 0, 0),
            "output_padding": (0, 0),
            "dilation": (1, 1),
            "bias": True,
        } | attrs
        attrs |= derive(x_shape, **attrs)
        specs = params(x_shape, **attrs)
        yield Sample((rng.standard_normal(x_shape), *(rng.standard_normal(s.shape) for s in specs)), attrs)


OP = OpDef(
    "conv2d_transpose",
    __doc__,
    shape,
    attrs=(
        Arg("filters", Int(1), doc="output channels"),
        Arg("kernel", Ints(2), doc="window size per spatial axis"),
        Arg("stride", Ints(2), 1, "upsampling factor per spatial axis"),
        Arg("padding", Padding(2), "valid", "same, valid, or rows/columns cropped per side"),
        Arg("output_padding", Ints(2, min=0), 0, "rows/columns added at the end"),
        Arg("dilation", Ints(2), 1, "spacing between kernel taps"),
        Arg("bias", Bool(), True, "add a bias"),
    ),
    params=params,
    flops=flops,
    derive=derive,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
)
