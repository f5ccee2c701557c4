"""Sliding windows for the convolution kernels: im2col gathers every window of a channels-first
input into one matrix through a strided view (a single copy), so a convolution is one GEMM;
col2im is its adjoint, adding each window back to where it came from.

Column layout: (C, *kernel, N, *out). Channels and taps lead, so that the rows of a
(C * taps, N * positions) matrix line up with a weight reshaped to (filters, C * taps), and the
innermost copy runs along the output positions of one row (stride-1 input reads for stride-1
convolutions), which is what makes the gather cheap."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided


def pad(x: np.ndarray, pads, fill: float = 0) -> np.ndarray:
    """x (N, C, *spatial) padded with `fill` by ((begin, end), ...) per spatial axis."""
    if not any(begin or end for begin, end in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), *pads), constant_values=fill)


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


def widen(y: np.ndarray, spatial) -> np.ndarray:
    """y (F, N, *out) of a stride-1 window, zero-extended on every spatial axis but the first to
    the (padded) input's sizes: the "wide" grid on which col2im_wide's adds are contiguous."""
    rank = len(spatial)
    out = y.shape[2:]
    if tuple(out[1:]) == tuple(spatial[1:]):
        return y
    wide = np.zeros((*y.shape[:3], *spatial[1:]), y.dtype)
    wide[(..., *(slice(m) for m in out[1:]))] = y
    return wide.reshape(*y.shape[:2], -1) if rank == 1 else wide


def col2im_wide(cols: np.ndarray, spatial, dilation) -> np.ndarray:
    """col2im for stride 1, from columns on the wide grid (see widen): cols (C, *kernel, N, L)
    with L = out[0] * prod(spatial[1:]) and zeros off the real window positions. On that grid a
    kernel tap is one flat offset into the row-major input, so each tap's add runs over one
    contiguous stretch of L elements rather than out[-1]-long rows: several times faster.
    Returns the (N, C, *spatial) transposed view of a (C, N, *spatial) buffer."""
    c, *rest = cols.shape
    rank = len(spatial)
    kernel, (n, length) = rest[:rank], rest[rank:]
    steps = [math.prod(spatial[a + 1 :]) for a in range(rank)]  # row-major steps per axis
    offsets = [
        sum(k * d * step for k, d, step in zip(tap, dilation, steps, strict=True))
        for tap in np.ndindex(*kernel)
    ]
    size = math.prod(spatial)
    # The zeros off the real positions reach past the end: a tail keeps the adds in bounds.
    buffer = np.zeros((c, n, max(size, offsets[-1] + length)), cols.dtype)
    for tap, offset in zip(np.ndindex(*kernel), offsets, strict=True):
        buffer[:, :, offset : offset + length] += cols[(slice(None), *tap)]
    return buffer[:, :, :size].reshape(c, n, *spatial).transpose(1, 0, *range(2, 2 + rank))


def crop(x: np.ndarray, pads, sizes) -> np.ndarray:
    """x (N, C, *spatial) without its padding: sizes[i] positions from begin on each axis."""
    return x[(slice(None), slice(None), *(slice(b, b + m) for (b, _), m in zip(pads, sizes, strict=True)))]
