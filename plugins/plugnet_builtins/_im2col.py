"""im2col and col2im: convolution and pooling as matrix products, for NCHW arrays.

A 2-D window of size (kh, kw) slides over the padded input with stride (sh, sw). Output pixel
(p, q) sees the input rows p·sh + i and columns q·sw + j for the kernel offsets
0 ≤ i < kh, 0 ≤ j < kw. im2col copies every window into one column of a matrix; a convolution
is then a single matrix product. Here the columns are laid out as (C, kh, kw, N, Ho, Wo): the
copy reads whole image rows (contiguous), the product with the weights ``w.reshape(F, -1)`` is a
single GEMM, and col2im only loops over the kh·kw kernel offsets, never over output pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from plugnet.protocols import Array
from plugnet_builtins import jit

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]  # ((top, bottom), (left, right))


def pair(value: Any, what: str, *, minimum: int = 1) -> Pair:
    """An int or a pair of ints, as a pair; each at least ``minimum``."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in items
    ):
        bound = "positive integer" if minimum == 1 else f"integer >= {minimum}"
        raise ValueError(f"{what} must be a {bound} or a pair of them, got {value!r}")
    return int(items[0]), int(items[1])


def as_config(value: Any) -> Any:
    """A JSON-native form of an int-or-pair argument: ints stay ints, pairs become lists."""
    return list(value) if isinstance(value, (tuple, list)) else value


def same_padding(size: int, kernel: int, stride: int) -> Pair:
    """Padding (before, after) that gives output size ceil(size / stride), as PyTorch and Keras
    define "same"; an odd total puts the extra row or column after (bottom, right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def output_size(size: int, kernel: int, stride: int, before: int, after: int) -> int:
    """⌊(size + before + after − kernel) / stride⌋ + 1."""
    return (size + before + after - kernel) // stride + 1


def windows(xp: Array, kernel: Pair, stride: Pair) -> Array:
    """A read-only view (N, C, Ho, Wo, kh, kw) of every window of the padded input ``xp``."""
    view = sliding_window_view(xp, kernel, axis=(2, 3))
    return view[:, :, :: stride[0], :: stride[1]]


def im2col(xp: Array, kernel: Pair, stride: Pair, out: Array) -> Array:
    """Copy the windows of ``xp`` (N, C, Hp, Wp) into ``out`` (C, kh, kw, N, Ho, Wo):
    out[c, i, j, n, p, q] = xp[n, c, p·sh + i, q·sw + j]. Returns ``out``."""
    kernels = jit.for_array(out)
    if kernels is not None and xp.dtype == out.dtype:
        kernels.im2col(xp, stride[0], stride[1], out)
        return out
    np.copyto(out, windows(xp, kernel, stride).transpose(1, 4, 5, 0, 2, 3))
    return out


def offsets(kernel: Pair, stride: Pair, out_size: Pair) -> Iterator[tuple[int, int, Any]]:
    """For each kernel offset (i, j): the slice of the padded input that offset touches,
    rows i, i + sh, ..., and columns j, j + sw, ... (one per output pixel)."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_size
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))


def col2im(cols: Array, stride: Pair, out: Array) -> Array:
    """The adjoint of :func:`im2col`: add every column entry back where it was copied from.

    ``cols`` is (C, kh, kw, N, Ho, Wo) and ``out`` (C, N, Hp, Wp) is overwritten with
    out[c, n, p·sh + i, q·sw + j] = Σ cols[c, i, j, n, p, q] over all (i, j, p, q) that land
    there; overlapping windows (stride < kernel) add up. One strided add per kernel offset.
    """
    _, kh, kw, _, ho, wo = cols.shape
    kernels = jit.for_array(out)
    if kernels is not None and cols.dtype == out.dtype:
        kernels.col2im(cols, stride[0], stride[1], out)
        return out
    out.fill(0)
    for i, j, (rows, columns) in offsets((kh, kw), stride, (ho, wo)):
        out[:, :, rows, columns] += cols[:, i, j]
    return out


def im2col_rows(flat: Array, shape: tuple[int, int, int, int], kernel: Pair, out: Array) -> Array:
    """im2col at stride 1 with whole padded rows: ``flat`` holds the padded input of ``shape``
    (N, C, Hp, Wp) followed by kw − 1 spare values; ``out`` (C, kh, kw, N, Ho·Wp) gets
    out[c, i, j, n, p·Wp + q] = xp[n, c, p + i, q + j] for q < Wo, which is one contiguous run
    of Ho·Wp values of xp per (n, c) and offset: each copy moves Ho·Wp values instead of Wo.
    The columns with q ≥ Wo hold values of the next row (or the spare values): a product that
    reads them must crop them, or multiply them by zero."""
    n, c, hp, wp = shape
    kh, kw = kernel
    kernels = jit.for_array(flat)
    if kernels is not None:
        kernels.im2col_rows(flat, shape, kh, kw, out)
        return out
    plane, run, item = hp * wp, (hp - kh + 1) * wp, flat.itemsize
    # One view (kh, kw, C, N, run) of every offset's rows; the offset (i, j) starts i·Wp + j on.
    rows = as_strided(
        flat,
        shape=(kh, kw, c, n, run),
        strides=(wp * item, item, plane * item, c * plane * item, item),
        writeable=False,
    )
    np.copyto(out.transpose(1, 2, 0, 3, 4), rows)
    return out


def col2im_rows(cols: Array, shape: tuple[int, int, int, int], flat: Array) -> Array:
    """The adjoint of :func:`im2col_rows`, into ``flat`` (C·N·Hp·Wp + kw − 1 values), returned
    as (C, N, Hp, Wp). The columns q ≥ Wo of ``cols`` must be zero: they land on the next row,
    or past the plane."""
    n, c, hp, wp = shape
    _, kh, kw, _, run = cols.shape
    plane, item = hp * wp, flat.itemsize
    kernels = jit.for_array(flat)
    if kernels is not None:
        kernels.col2im_rows(cols, shape, flat)
        return flat[: c * n * plane].reshape(c, n, hp, wp)
    flat.fill(0)
    rows = as_strided(
        flat,
        shape=(kh, kw, c, n, run),
        strides=(wp * item, item, n * plane * item, plane * item, item),
    )
    for i in range(kh):
        for j in range(kw):
            rows[i, j] += cols[:, i, j]  # the rows of one offset never overlap: run < plane
    return flat[: c * n * plane].reshape(c, n, hp, wp)


def swap_crop(src: Array, top: int, left: int, out: Array, bias: Array | None = None) -> Array:
    """out[a, b, y, x] = src[b, a, top + y, left + x] (+ bias[b]), out's shape giving the
    window: the (N, C) ↔ (C, N) layout changes around the column products. Returns ``out``."""
    kernels = jit.for_array(out)
    if kernels is not None and src.dtype == out.dtype:
        use_bias = bias is not None
        kernels.swap_crop(src, top, left, bias if use_bias else src[0, 0, 0], use_bias, out)
        return out
    height, width = out.shape[2:]
    window = src[:, :, top : top + height, left : left + width].transpose(1, 0, 2, 3)
    if bias is None:
        np.copyto(out, window)
    else:
        np.add(window, bias.reshape(-1, 1, 1), out=out)
    return out


class Workspace:
    """Buffers reused from one step to the next while the shape and dtype stay the same, so
    the column matrices are not allocated (and page-faulted in) again on every batch."""

    def __init__(self) -> None:
        self._buffers: dict[str, Array] = {}
        self._lanes: list[Workspace] = []

    def lane(self, index: int) -> Workspace:
        """The buffers of lane ``index`` (:mod:`plugnet_builtins._lanes`): this workspace for
        lane 0, a workspace of its own for each other lane (counted in :meth:`nbytes`)."""
        if index == 0:
            return self
        while len(self._lanes) < index:
            self._lanes.append(Workspace())
        return self._lanes[index - 1]

    def get(
        self, name: str, shape: tuple[int, ...], dtype: Any, *, fill: float | None = None
    ) -> Array:
        """The buffer ``name`` of ``shape`` and ``dtype``; a new one is filled with ``fill``
        (left uninitialized when ``fill`` is None)."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = np.empty(shape, dtype=dtype)
            if fill is not None:
                buffer.fill(fill)
            self._buffers[name] = buffer
        return buffer

    def pad(
        self, x: Array, padding: Padding, *, fill: float = 0.0, name: str = "pad", spare: int = 0
    ) -> Array:
        """``x`` (N, C, H, W) padded with ``fill`` in the reused buffer ``name``: the border is
        written once, each call copies only the interior. Without padding or ``spare``, ``x``
        itself. With ``spare``, the buffer goes on for that many values of ``fill`` after the
        padded array (its ``.base``), which :func:`im2col_rows` reads."""
        (top, bottom), (left, right) = padding
        if top == bottom == left == right == spare == 0:
            return x
        n, c, h, w = x.shape
        shape = (n, c, top + h + bottom, left + w + right)
        size = n * c * shape[2] * shape[3]
        flat = self.get(f"{name}{fill}/{spare}", (size + spare,), x.dtype, fill=fill)
        xp = flat[:size].reshape(shape)
        xp[:, :, top : top + h, left : left + w] = x
        return xp

    def nbytes(self) -> int:
        """Bytes held by all buffers, the lanes' included."""
        own = sum(b.nbytes for b in self._buffers.values())
        return own + sum(lane.nbytes() for lane in self._lanes)
