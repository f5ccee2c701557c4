"""conv2d_transpose(filters, kernel, stride=1, padding=valid, output_padding=0, dilation=1,
bias=true): the gradient of conv2d with respect to its input, as ONNX ConvTranspose.

x: (N, C, H, W) -> y: (N, filters, H', W'); every input position scatters a window:
    full[n, f, i * stride + k * dilation] += sum_c x[n, c, i] * weight[c, f, k]
then y = full cropped by (begin, end) per axis, output_padding extra rows/columns at the end, plus
bias[f]. Per spatial axis
    out = (size - 1) * stride - begin - end + dilation * (kernel - 1) + output_padding + 1;
padding=same gives out = size * stride (the crop is chosen, as ONNX SAME_UPPER, to fit), and then
output_padding must stay 0. output_padding must be smaller than stride or dilation (PyTorch's rule).

Layout: weight is (C, filters, kh, kw) — ONNX ConvTranspose's, rows index inputs — and bias is
(filters,). Initializer fans follow Keras and PyTorch: fan_in = filters * kh * kw,
fan_out = C * kh * kw."""

import math

from nnc.runtime.ops.base import (
    OpDef,
    ParamSpec,
    ShapeError,
    check_rank,
    format_shape,
    glorot_uniform,
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
)
