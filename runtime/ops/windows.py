"""Sliding windows for the convolution kernels.

conv1d/conv2d gather every window of their input into one matrix (gather: im2col in a
spatial-major layout, see ops/conv.py) and add dx back tap by tap (tap_region). conv2d_transpose
uses the channels-first pair: windows, a strided (C, *kernel, N, *out) view whose copy is its
im2col, and col2im, its adjoint. pad keeps its input's memory layout, crop is a view.

The ops after a convolution keep its spatial-major layout; in_layout_of copies a gradient that
arrives in another (a flatten's C-ordered one) into theirs before use, because one NumPy pass
over two layouts is about five times slower than that copy plus a pass within one."""

from __future__ import annotations

import numpy as np
from nnc.runtime import threads
from numpy.lib.stride_tricks import as_strided


def pad(x: np.ndarray, pads, fill: float = 0) -> np.ndarray:
    """x (N, C, *spatial) padded with `fill` by ((begin, end), ...) per spatial axis, in x's
    memory layout (np.pad would make it C-ordered, and the kernels after it read the layout)."""
    if not any(begin or end for begin, end in pads):
        return x
    xpad = np.full_like(x, fill, shape=padded_shape(x.shape, pads))
    xpad[(..., *(slice(begin, begin + n) for n, (begin, _) in zip(x.shape[2:], pads, strict=True)))] = x
    return xpad


def in_layout_of(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`a` itself when it is laid out in memory as `like` (same shape), else a copy that is."""
    out = np.empty_like(like, a.dtype)
    if out.strides == a.strides:
        return a
    out[...] = a
    return out


def padded_shape(x_shape, pads) -> tuple[int, ...]:
    """The shape of x (N, C, *spatial) padded by ((begin, end), ...) per spatial axis."""
    return (*x_shape[:2], *(n + begin + end for n, (begin, end) in zip(x_shape[2:], pads, strict=True)))


def windows(xpad: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """Every window of xpad (N, C, *spatial) as a read-only strided view (C, *kernel, N, *out):
    view[c, k, n, p] = xpad[n, c, p * stride + k * dilation]. Copying it is im2col."""
    n, c = xpad.shape[:2]
    step_n, step_c, *steps = xpad.strides
    return as_strided(
        xpad,
        shape=(c, *kernel, n, *out),
        strides=(
            step_c,
            *(s * d for s, d in zip(steps, dilation, strict=True)),
            step_n,
            *(s * t for s, t in zip(steps, stride, strict=True)),
        ),
        writeable=False,
    )


def col2im(cols: np.ndarray, spatial, stride, dilation) -> np.ndarray:
    """The adjoint of im2col: cols (C, *kernel, N, *out) summed into a zero (N, C, *spatial)
    array. One strided add per kernel tap (9 for a 3x3 kernel), none per pixel or channel.
    The result is a transposed view of a (C, N, *spatial) buffer: the adds then run on
    matching layouts."""
    c, *rest = cols.shape
    rank = len(spatial)
    kernel, (n, *out) = rest[:rank], rest[rank:]
    buffer = np.zeros((c, n, *spatial), cols.dtype)
    for tap in np.ndindex(*kernel):
        region = tuple(
            slice(k * d, k * d + s * (o - 1) + 1, s)
            for k, d, s, o in zip(tap, dilation, stride, out, strict=True)
        )
        buffer[(slice(None), slice(None), *region)] += cols[(slice(None), *tap)]
    return buffer.transpose(1, 0, *range(2, 2 + rank))


def tap_region(tap, stride, dilation, out) -> tuple:
    """The strided slice, per spatial axis, of the input positions that kernel tap `tap` reads
    for every output position."""
    return tuple(
        slice(k * d, k * d + s * (o - 1) + 1, s)
        for k, d, s, o in zip(tap, dilation, stride, out, strict=True)
    )


def gather(xpad: np.ndarray, kernel, stride, dilation, out, cols: np.ndarray) -> None:
    """im2col for spatial-major convolutions: fills cols (G, *out, N, *kernel, C/G) with
    cols[g, p, n, k, c] = xpad[n, g * C/G + c, p * stride + k * dilation].
    Where the channels of a group fill a cache line (16 float32), the copy runs along them, as
    one copy of a strided view; with fewer (a first layer's 1 to 3), a copy per kernel tap runs
    along rows of the input instead: either is about twice as fast as the other there."""
    n, channels = xpad.shape[:2]
    groups, rank = cols.shape[0], len(out)
    per_group = channels // groups
    if per_group * xpad.itemsize >= 64:
        step_n, step_c, *steps = xpad.strides
        view = as_strided(
            xpad,
            shape=(groups, *out, n, *kernel, per_group),
            strides=(
                step_c * per_group,
                *(s * t for s, t in zip(steps, stride, strict=True)),
                step_n,
                *(s * d for s, d in zip(steps, dilation, strict=True)),
                step_c,
            ),
            writeable=False,
        )
        # one large copy (the CNN's second layer: 9 MB), split by output row over the threads
        row_size = cols[:, :1].size
        threads.split(out[0], row_size, lambda a, b: np.copyto(cols[:, a:b], view[:, a:b]))
        return
    for tap in np.ndindex(*kernel):
        taken = xpad[(..., *tap_region(tap, stride, dilation, out))]  # (N, C, *out)
        taken = taken.reshape(n, groups, per_group, *out)
        cols[(slice(None), *(slice(None),) * rank, slice(None), *tap)] = taken.transpose(
            1, *range(3, 3 + rank), 0, 2
        )


def crop(x: np.ndarray, pads, sizes) -> np.ndarray:
    """x (N, C, *spatial) without its padding: sizes[i] positions from begin on each axis."""
    return x[(slice(None), slice(None), *(slice(b, b + m) for (b, _), m in zip(pads, sizes, strict=True)))]
