"""max_pool1d / max_pool2d / avg_pool1d / avg_pool2d(size, stride=size, padding=valid):
channels-first pooling over a sliding window, as ONNX MaxPool / AveragePool.

x: (N, C, *spatial) -> y: (N, C, *out), each channel pooled on its own:
    max: y[n, c, p] = max_k xpad[n, c, p * stride + k], padding never wins (it is -inf)
    avg: y[n, c, p] = mean over the window positions inside x (padding is not counted,
         ONNX count_include_pad=0)
out = floor((size + begin + end - kernel) / stride) + 1; padding=same gives ceil(size / stride),
the extra padding at the end (ONNX SAME_UPPER). Explicit padding must be smaller than the window
on each side (ONNX's rule), so every window holds at least one real element.

Gradients: max sends dy[p] to the window's maximum, on ties to the first tap in row-major
window order; avg sends dy[p] / count[p] to each real position of window p, count[p] being how
many there are. Overlapping windows (stride < size) add their contributions.

Kernels loop over the window taps (prod(size) of them), each one strided slice of the padded
input covering every output at once; nothing loops over batch, channels or positions. Every
array keeps x's memory layout, and dx comes back in it: after a convolution that is
spatial-major (ops/conv.py), where a tap's slice runs over whole rows of batch * channels values
and the convolution's backward reads dx without a transposing copy. The compiler (derive) turns
padding=same into explicit pads, which the ONNX export writes as is."""

import itertools
import math

import numpy as np
from nnc.runtime.ops import windows
from nnc.runtime.ops.base import (
    OpDef,
    Sample,
    ShapeError,
    check_rank,
    conv_output_size,
    flat_padding,
    resolve_padding,
    window_sizes,
)
from nnc.runtime.schema import Arg, Ints, Optional, Padding, show

_LAYOUTS = {1: "N, C, L", 2: "N, C, H, W"}


def _geometry(x_shape, size, stride, padding):
    """((begin, end) per spatial axis, output sizes) of a pool over x_shape (N, C, *spatial)."""
    pads = resolve_padding(padding, x_shape[2:], size, stride, (1,) * len(size))
    out = tuple(
        conv_output_size(n, k, s, 1, begin + end)
        for n, k, s, (begin, end) in zip(x_shape[2:], size, stride, pads, strict=True)
    )
    return pads, out


def _taps(size, stride, out):
    """For each window offset, in row-major order, the strided slice of the padded input that
    holds that tap of every output window."""
    return [
        (..., *(slice(k, k + s * (m - 1) + 1, s) for k, s, m in zip(offset, stride, out, strict=True)))
        for offset in itertools.product(*map(range, size))
    ]


def _overlapping(size, stride):
    """Whether an input position can fall in two windows, so that gradients must be added."""
    return any(s < k for k, s in zip(size, stride, strict=True))


def _window_counts(x_shape, size, stride, pads, out, dtype):
    """How many real (non-padding) positions each output window holds, shaped like out: the
    product of per-axis counts, as the window is a box."""
    counts = np.ones((), dtype)
    for n, k, s, (begin, _), m in zip(x_shape[2:], size, stride, pads, out, strict=True):
        start = np.arange(m) * s - begin  # first position of each window, in x's coordinates
        along = np.minimum(start + k, n) - np.maximum(start, 0)
        counts = np.multiply.outer(counts, along.astype(dtype))
    return counts


def max_forward(ctx, x, *, size, stride, padding):
    pads, out = _geometry(x.shape, size, stride, padding)
    taps = _taps(size, stride, out)
    xpad = windows.pad(x, pads, -np.inf)
    best = xpad[taps[0]].copy(order="K")  # every array here in x's memory layout
    # Which tap holds each maximum, for backward. Taps come in increasing order, so the winner
    # is the last tap that beat everything before it: a running maximum of t over those taps.
    # (Two cheap ufuncs; a masked write, np.copyto(where=), is several times slower.)
    winner = np.zeros_like(best, np.min_scalar_type(len(taps) - 1))
    beats = np.empty_like(best, bool)
    for t, tap in enumerate(taps[1:], start=1):
        candidate = xpad[tap]
        np.greater(candidate, best, out=beats)  # strict: a tie stays with the earlier tap
        np.maximum(winner, beats * winner.dtype.type(t), out=winner)
        np.maximum(best, candidate, out=best)
    return best, (winner, x.shape, pads)


def max_backward(ctx, dy, cache, *, size, stride, padding):
    if not ctx.wants(0):
        return (None,)
    winner, x_shape, pads = cache
    # dx in x's layout, which the winners kept: a convolution before the pool then reads its
    # gradient without a transposing copy; dy joins that layout first if it is in another.
    padded = windows.padded_shape(x_shape, pads)
    if tuple(stride) == tuple(size):  # windows tile xpad: only positions past the last one stay 0
        dxpad = np.empty_like(winner, dy.dtype, shape=padded)
        for axis, (n, m, k) in enumerate(zip(padded[2:], winner.shape[2:], size, strict=True), start=2):
            dxpad[(slice(None),) * axis + (slice(m * k, n),)] = 0
    else:
        dxpad = np.zeros_like(winner, dy.dtype, shape=padded)
    dy = windows.in_layout_of(dy, winner)
    overlapping = _overlapping(size, stride)
    routed = np.empty_like(dy) if overlapping else None
    won = np.empty_like(winner, bool)
    for t, tap in enumerate(_taps(size, stride, winner.shape[2:])):
        np.equal(winner, t, out=won)
        if overlapping:
            np.multiply(dy, won, out=routed)
            dxpad[tap] += routed
        else:  # each position is in one window at most: write, no read-modify-write
            np.multiply(dy, won, out=dxpad[tap])
    return (windows.crop(dxpad, pads, x_shape[2:]),)


def avg_forward(ctx, x, *, size, stride, padding):
    pads, out = _geometry(x.shape, size, stride, padding)
    taps = _taps(size, stride, out)
    xpad = windows.pad(x, pads)
    total = xpad[taps[0]].copy()
    for tap in taps[1:]:
        total += xpad[tap]
    counts = _window_counts(x.shape, size, stride, pads, out, x.dtype)
    total /= counts
    return total, (counts, x.shape, pads)


def avg_backward(ctx, dy, cache, *, size, stride, padding):
    if not ctx.wants(0):
        return (None,)
    counts, x_shape, pads = cache
    share = dy / counts
    # Padding taps receive a share too, but they are cropped away below.
    dxpad = np.zeros(windows.padded_shape(x_shape, pads), dy.dtype)
    overlapping = _overlapping(size, stride)
    for tap in _taps(size, stride, counts.shape):
        if overlapping:
            dxpad[tap] += share
        else:  # each position is in one window at most: write, no read-modify-write
            dxpad[tap] = share
    return (windows.crop(dxpad, pads, x_shape[2:]),)


def max_to_onnx(g, x, *, size, stride, padding):
    # pads are explicit (begins..., ends...): derive resolved "same"
    if all(s == 1 for s in stride) and any(padding):
        # NOTE: onnx's ReferenceEvaluator (1.23 at least) misreads MaxPool's pads when every
        # stride is 1 (it drops them in 1-D, takes them as (top, bottom, left, right) in 2-D).
        # A Pad with -inf, which never wins, then an unpadded MaxPool computes the same.
        zeros = [0, 0]  # batch and channels
        pads = g.const([*zeros, *padding[: len(size)], *zeros, *padding[len(size) :]], hint="pads")
        x = g.node("Pad", [x, pads, g.const(-np.inf, hint="pad_value")], mode="constant")
        padding = (0,) * len(padding)
    return g.node("MaxPool", [x], kernel_shape=list(size), strides=list(stride), pads=list(padding))


def avg_to_onnx(g, x, *, size, stride, padding):
    return g.node(
        "AveragePool",
        [x],
        kernel_shape=list(size),
        strides=list(stride),
        pads=list(padding),  # explicit (begins..., ends...): derive resolved "same"
        count_include_pad=0,
    )


def _sample_cases(rank):
    """(x shape, attributes) pairs: non-overlapping windows (the common case), overlapping
    ones, gaps between windows, explicit asymmetric and same padding, odd sizes. Small, as the
    gradient check perturbs every element."""
    if rank == 1:
        yield (2, 3, 6), {"size": (2,), "padding": (0, 0)}
        yield (2, 2, 7), {"size": (3,), "stride": (1,), "padding": "same"}
        yield (1, 2, 9), {"size": (3,), "stride": (2,), "padding": (2, 1)}
        yield (1, 2, 7), {"size": (4,), "stride": (2,), "padding": "same"}
        yield (2, 1, 8), {"size": (2,), "stride": (3,), "padding": (0, 0)}
        return
    yield (2, 2, 4, 6), {"size": (2, 2), "padding": (0, 0, 0, 0)}
    yield (1, 2, 5, 6), {"size": (3, 3), "stride": (1, 2), "padding": "same"}
    yield (2, 1, 5, 5), {"size": (3, 2), "stride": (2, 3), "padding": (1, 0, 2, 1)}
    yield (1, 2, 5, 4), {"size": (3, 3), "stride": (1, 1), "padding": "same"}
    yield (2, 1, 4, 5), {"size": (2, 3), "stride": (1, 1), "padding": (0, 2, 1, 0)}
    yield (1, 2, 7, 5), {"size": (3, 3), "stride": (2, 2), "padding": (0, 0, 0, 0)}


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
        # "same" becomes explicit pads here, where the input size is known, so the exporter
        # (which sees no shapes) writes the runtime's exact split.
        stride = size if stride is None else stride
        pads = resolve_padding(padding, x[2:], size, stride, (1,) * rank)
        return {"stride": stride, "padding": flat_padding(pads)}

    def flops(x, **attrs):  # one compare or add per window element
        y = shape(x, **attrs)
        return math.prod(y[1:]) * math.prod(attrs["size"])

    def samples(rng):
        for x_shape, attrs in _sample_cases(rank):
            attrs = {"stride": None} | attrs
            attrs |= derive(x_shape, **attrs)
            if mode == "max":  # distinct values: a tie would make the max non-differentiable
                x = rng.permutation(math.prod(x_shape)).reshape(x_shape) / 7.0 - 2
            else:
                x = rng.standard_normal(x_shape)
            yield Sample((x,), attrs)

    attrs = (
        Arg("size", Ints(rank), doc="window size per spatial axis"),
        Arg("stride", Optional(Ints(rank)), None, "step per spatial axis; none: the window size"),
        Arg("padding", Padding(rank), "valid", "same, valid, or padding per side"),
    )
    forward, backward, to_onnx = (
        (max_forward, max_backward, max_to_onnx)
        if mode == "max"
        else (avg_forward, avg_backward, avg_to_onnx)
    )
    return OpDef(
        name,
        __doc__,
        shape,
        attrs=attrs,
        flops=flops,
        derive=derive,
        forward=forward,
        backward=backward,
        to_onnx=to_onnx,
        samples=samples,
    )


MAX_POOL1D = _make("max", 1)
MAX_POOL2D = _make("max", 2)
AVG_POOL1D = _make("avg", 1)
AVG_POOL2D = _make("avg", 2)
OPS = (MAX_POOL1D, MAX_POOL2D, AVG_POOL1D, AVG_POOL2D)
