"""conv1d / conv2d(filters, kernel, stride=1, padding=valid, dilation=1, groups=1, bias=true):
channels-first cross-correlation, as ONNX Conv and PyTorch.

x: (N, C, *spatial) -> y: (N, filters, *out), for output channel f and position p
    y[n, f, p] = bias[f] + sum_{c, k} weight[f, c, k] * xpad[n, g * C/groups + c, p * stride + k * dilation]
with g = f // (filters / groups) the group of f and xpad x zero-padded by (begins, ends).
out = floor((size + begin + end - dilation * (kernel - 1) - 1) / stride) + 1; padding=same gives
out = ceil(size / stride), the extra padding at the end (ONNX SAME_UPPER).

Layout: weight is (filters, C // groups, *kernel) — PyTorch's and ONNX's — and bias is (filters,).
Initializer fans follow Keras and PyTorch: fan_in = C // groups * prod(kernel),
fan_out = filters * prod(kernel)."""

import math

from nnc.runtime.ops.base import (
    OpDef,
    ParamSpec,
    ShapeError,
    check_rank,
    glorot_uniform,
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

    attrs = (
        Arg("filters", Int(1), doc="output channels"),
        Arg("kernel", Ints(rank), doc="window size per spatial axis"),
        Arg("stride", Ints(rank), 1, "step per spatial axis"),
        Arg("padding", Padding(rank), "valid", "same, valid, or zero padding per side"),
        Arg("dilation", Ints(rank), 1, "spacing between kernel taps"),
        Arg("groups", Int(1), 1, "channel groups convolved separately"),
        Arg("bias", Bool(), True, "add a bias"),
    )
    return OpDef(name, __doc__, shape, attrs=attrs, params=params, flops=flops)


CONV1D = _make(1)
CONV2D = _make(2)
OPS = (CONV1D, CONV2D)
