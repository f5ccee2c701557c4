"""max_pool1d / max_pool2d / avg_pool1d / avg_pool2d(size, stride=size, padding=valid):
channels-first pooling over a sliding window, as ONNX MaxPool / AveragePool.

x: (N, C, *spatial) -> y: (N, C, *out), each channel pooled on its own:
    max: y[n, c, p] = max_k xpad[n, c, p * stride + k], padding never wins (it is -inf)
    avg: y[n, c, p] = mean over the window positions inside x (padding is not counted,
         ONNX count_include_pad=0)
out = floor((size + begin + end - kernel) / stride) + 1; padding=same gives ceil(size / stride).
Explicit padding must be smaller than the window on each side (ONNX's rule), so every window
holds at least one real element."""

import math

from nnc.runtime.ops.base import OpDef, ShapeError, check_rank, resolve_padding, window_sizes
from nnc.runtime.schema import Arg, Ints, Optional, Padding, show

_LAYOUTS = {1: "N, C, L", 2: "N, C, H, W"}


def _make(mode: str, rank: int) -> OpDef:
    name = f"{mode}_pool{rank}d"

    def shape(x, *, size, stride, padding):
        check_rank(x, rank + 2, rank + 2, layout=_LAYOUTS[rank])
        stride = size if stride is None else stride
        ones = (1,) * rank
        pads = resolve_padding(padding, x[2:], size, stride, ones)
        for k, (begin, end) in zip(size, pads, strict=True):
            if begin >= k or end >= k:
                raise ShapeError(
                    f"{name} needs padding smaller than the window. Received: "
                    f"padding={show(padding)}, size={show(size)}",
                    arg="padding",
                )
        return (x[0], x[1], *window_sizes(name, x, size, stride, ones, padding, arg="size"))

    def derive(x, *, size, stride, padding):
        return {"stride": size if stride is None else stride}

    def flops(x, **attrs):  # one compare or add per window element
        y = shape(x, **attrs)
        return math.prod(y[1:]) * math.prod(attrs["size"])

    attrs = (
        Arg("size", Ints(rank), doc="window size per spatial axis"),
        Arg("stride", Optional(Ints(rank)), None, "step per spatial axis; none: the window size"),
        Arg("padding", Padding(rank), "valid", "same, valid, or padding per side"),
    )
    return OpDef(name, __doc__, shape, attrs=attrs, flops=flops, derive=derive)


MAX_POOL1D = _make("max", 1)
MAX_POOL2D = _make("max", 2)
AVG_POOL1D = _make("avg", 1)
AVG_POOL2D = _make("avg", 2)
OPS = (MAX_POOL1D, MAX_POOL2D, AVG_POOL1D, AVG_POOL2D)
