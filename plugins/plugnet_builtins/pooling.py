"""Max and average pooling over NCL and NCHW inputs, and global average pooling.

1-D pooling is 2-D pooling of the height-1 image (N, C, 1, L) with (1, k) windows.

The windows are copied into columns laid out (kh·kw, N, C, Ho, Wo), so the pool is a reduction
over the first axis. Backward adds each column back where it came from, one strided add per
pool offset (i, j), never a loop over output pixels. Windows that tile the input (stride =
pool_size, no padding: the usual 2×2 pool) need no copy for the average and no adds in
backward: each input element is in one window, so its gradient is written once, in place.

With the ``jit`` extra (:mod:`plugnet_builtins.jit`), windows that tile a C-contiguous input
exactly run compiled loops instead, forward and backward, with the same results: the max pool
keeps each window's winner as its offset (uint8) rather than kh·kw masks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape
from plugnet_builtins import _chunks as chunking
from plugnet_builtins import jit
from plugnet_builtins._im2col import (
    Padding,
    Pair,
    Workspace,
    as_config,
    offsets,
    output_size,
    pair,
    windows,
)
from plugnet_builtins.conv import image_shape, onnx_window, window_slices
from plugnet_builtins.layers import _positive_int

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph

NO_WINNER = 255  # _jit_kernels.NO_WINNER: max_pool2d's compiled winner of a NaN window


class _Pool2D(Configurable):
    """What max and average pooling share: window, stride and padding arithmetic."""

    name = "pool2d"
    fill = 0.0  # the value of the padding
    # Non-overlapping, overlapping and padded windows, for the conformance suite.
    conformance = Conformance(
        cases=(
            {"config": {"pool_size": 2}, "input_shape": (2, 4, 6)},
            {"config": {"pool_size": 3, "stride": 1}, "input_shape": (2, 5, 5)},
            {"config": {"pool_size": 3, "stride": 2, "padding": 1}, "input_shape": (1, 5, 6)},
            {"config": {"pool_size": (2, 3), "stride": (1, 2)}, "input_shape": (2, 4, 7)},
        )
    )

    def __init__(
        self,
        pool_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        window = pair(pool_size, f"{self.name} pool_size")
        strides = window if stride is None else pair(stride, f"{self.name} stride")
        pads = pair(padding, f"{self.name} padding", minimum=0)
        self.pool_size = as_config(pool_size)
        self.stride = as_config(stride)
        self.padding = as_config(padding)
        self._set_window(window, strides, pads)

    def _set_window(self, window: Pair, strides: Pair, pads: Pair) -> None:
        """Window, stride and (symmetric) padding in (height, width), and the layer's state."""
        (ph, pw), self.window, self.strides = pads, window, strides
        if 2 * ph > window[0] or 2 * pw > window[1]:
            raise ValueError(
                f"{self.name} padding {self.padding!r} is more than half of pool_size "
                f"{self.pool_size!r}, so some windows would hold only padding; use "
                f"padding <= pool_size // 2"
            )
        self.pads: Padding = ((ph, ph), (pw, pw))
        self.tiles = strides == window and pads == (0, 0)  # each element in at most one window
        self.kernels: ModuleType | None = None  # the compiled kernels the last forward ran
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.workspace = Workspace()

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        c, h, w = image_shape(input_shape, self.name)
        (kh, kw), (sh, sw), ((ph, _), (pw, _)) = self.window, self.strides, self.pads
        if kh > h + 2 * ph or kw > w + 2 * pw:
            raise ValueError(
                f"{self.name} pool_size {self.window} is larger than its padded input "
                f"({h + 2 * ph}, {w + 2 * pw}); use a smaller pool_size"
            )
        self.out_size = (output_size(h, kh, sh, ph, ph), output_size(w, kw, sw, pw, pw))
        return (c, *self.out_size)

    def forward(self, x: Array, *, training: bool = False) -> Array:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad: Array) -> Array:
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def _tile_kernels(self, x: Array) -> ModuleType | None:
        """The compiled kernels (:mod:`plugnet_builtins.jit`) for windows that tile a
        C-contiguous x exactly (each element in one window, none left over), else None (the
        NumPy code). Kept for backward, which reads what this forward left."""
        (kh, kw), (ho, wo) = self.window, self.out_size
        exact = self.tiles and x.shape[2:] == (ho * kh, wo * kw) and kh * kw < NO_WINNER
        self.x_shape, self.dtype = x.shape, x.dtype
        self.kernels = jit.for_array(x) if exact and x.flags.c_contiguous else None
        return self.kernels

    def _compiled_backward(self, grad: Array) -> ModuleType | None:
        """The forward's kernels where ``grad`` suits them too (C-contiguous, a dtype they
        take), else None."""
        if self.kernels is None or not grad.flags.c_contiguous or not jit.takes(grad):
            return None
        return self.kernels

    def _column_chunks(self, x: Array) -> Iterator[tuple[slice, Array]]:
        """For chunks of samples of x (:mod:`plugnet_builtins._chunks`): the samples, and
        cols[i·kw + j, n, c, p, q] = xp[n, c, p·sh + i, q·sw + j] for them, in a reused
        buffer. A chunk's columns are still in cache when the pool reads them back."""
        self.x_shape, self.dtype = x.shape, x.dtype
        xp = self.workspace.pad(x, self.pads, fill=self.fill)
        (kh, kw), (ho, wo) = self.window, self.out_size
        parts = chunking.sample_chunks(len(x), x[:1].nbytes)
        buffer = (kh, kw, len(x[parts[0]]), x.shape[1], ho, wo)
        cols = self.workspace.get("cols", buffer, x.dtype)
        for part in parts:
            chunk = cols[:, :, : len(x[part])]
            np.copyto(
                chunk, windows(xp[part], self.window, self.strides).transpose(4, 5, 0, 1, 2, 3)
            )
            yield part, chunk.reshape(kh * kw, *chunk.shape[2:])

    def _input_grad(self, grad: Array, shares: Array | float) -> Array:
        """dx from g = dE/dy, each window element getting g times its share: ``shares[k]``
        (N, C, Ho, Wo) for kernel offset k, or one number for all. Tiling windows write
        each element once; others add up (overlapping windows) in the padded frame, cropped."""
        n, c, h, w = self.x_shape
        spots = offsets(self.window, self.strides, self.out_size)
        if self.tiles:
            (kh, kw), (ho, wo) = self.window, self.out_size
            covered = (h, w) == (ho * kh, wo * kw)  # else the last rows or columns get 0
            dx = (np.empty if covered else np.zeros)(self.x_shape, dtype=grad.dtype)
            for k, (_, _, (rows, columns)) in enumerate(spots):
                share = shares if isinstance(shares, float) else shares[k]
                np.multiply(grad, share, out=dx[:, :, rows, columns])
            return dx
        (ph, _), (pw, _) = self.pads
        dxp = self.workspace.get("dxp", (n, c, h + 2 * ph, w + 2 * pw), grad.dtype)
        dxp.fill(0)
        if isinstance(shares, float):
            scaled = grad * shares  # one product for every offset
            for _, _, (rows, columns) in spots:
                dxp[:, :, rows, columns] += scaled
        else:
            for k, (_, _, (rows, columns)) in enumerate(spots):
                dxp[:, :, rows, columns] += grad * shares[k]
        return dxp[:, :, ph : ph + h, pw : pw + w].copy()


class MaxPool2D(_Pool2D):
    """Max pooling: y[n, c, p, q] = max over the window of xp (padded with −∞, as in PyTorch).

    The gradient of each window goes to one element: its first maximum in row-major order
    (top-most, then left-most), the element ``numpy.argmax`` picks, as PyTorch's CPU kernel does.
    Overlapping windows (stride < pool_size) add their gradients.
    """

    name = "max_pool2d"
    fill = -np.inf

    def forward(self, x: Array, *, training: bool = False) -> Array:
        size, (ho, wo) = self.window[0] * self.window[1], self.out_size
        y = np.empty((*x.shape[:2], ho, wo), dtype=x.dtype)
        kernels = self._tile_kernels(x)
        if kernels is not None:  # winner: each window's offset k (uint8), not size masks
            self.winner = np.empty(y.shape, dtype=np.uint8)
            across = self.workspace.get("across", (x.size // self.window[1],), x.dtype)
            pick = self.workspace.get("pick", across.shape, np.uint8)
            kernels.max_pool_tiles(x, *self.window, across, pick, y, self.winner)
            return y
        # winner[k] marks the window elements that get the gradient: the first k holding the
        # max, that is equal to it while no earlier k is (winner > taken, for booleans)
        self.winner = np.empty((size, *y.shape), dtype=bool)
        for part, cols in self._column_chunks(x):
            top, winner = cols.max(axis=0, out=y[part]), self.winner[:, part]
            np.equal(cols[0], top, out=winner[0])
            taken = winner[0].copy()
            for k in range(1, size):
                np.equal(cols[k], top, out=winner[k])
                np.greater(winner[k], taken, out=winner[k])
                taken |= winner[k]
        return y

    def backward(self, grad: Array) -> Array:
        if self.kernels is None:
            return self._input_grad(grad, self.winner)
        kernels = self._compiled_backward(grad)
        if kernels is None:  # the compiled forward's offsets as the NumPy code's masks
            size = self.window[0] * self.window[1]
            offsets = np.arange(size, dtype=np.uint8).reshape(size, 1, 1, 1, 1)
            return self._input_grad(grad, self.winner == offsets)
        dx = np.empty(self.x_shape, dtype=grad.dtype)
        kernels.max_pool_tiles_backward(grad, self.winner, *self.window, dx)
        return dx


class AvgPool2D(_Pool2D):
    """Average pooling: y[n, c, p, q] = (1 / (kh·kw)) Σ over the window of xp.

    Padding is zeros and counts in the average (PyTorch's count_include_pad=True). Every element
    of a window gets 1 / (kh·kw) of its gradient; overlapping windows add up.
    """

    name = "avg_pool2d"

    def forward(self, x: Array, *, training: bool = False) -> Array:
        size = self.window[0] * self.window[1]
        if not self.tiles:
            y = np.empty((*x.shape[:2], *self.out_size), dtype=x.dtype)
            for part, cols in self._column_chunks(x):
                cols.sum(axis=0, out=y[part])
            y *= 1.0 / size
            return y
        kernels = self._tile_kernels(x)
        if kernels is not None:
            y = np.empty((*x.shape[:2], *self.out_size), dtype=x.dtype)
            kernels.avg_pool_tiles(x, *self.window, 1.0 / size, y)
            return y
        # tiling windows: the sum of the kh·kw strided views of x, in the columns' order
        views = [
            x[:, :, r, c] for _, _, (r, c) in offsets(self.window, self.strides, self.out_size)
        ]
        total = np.add(views[0], views[1]) if size > 1 else views[0].copy()
        for view in views[2:]:
            total += view
        total *= 1.0 / size
        return total

    def backward(self, grad: Array) -> Array:
        share = 1.0 / (self.window[0] * self.window[1])
        kernels = self._compiled_backward(grad)  # None after a forward of the NumPy code
        if kernels is None:
            return self._input_grad(grad, share)
        dx = np.empty(self.x_shape, dtype=grad.dtype)
        kernels.avg_pool_tiles_backward(grad, *self.window, share, dx)
        return dx


class _Pool1D(_Pool2D):
    """A 2-D pool run on (N, C, 1, L) with (1, pool_size) windows; put before the 2-D class."""

    conformance = Conformance(
        cases=(
            {"config": {"pool_size": 2}, "input_shape": (2, 7)},
            {"config": {"pool_size": 3, "stride": 1}, "input_shape": (2, 6)},
            {"config": {"pool_size": 3, "stride": 2, "padding": 1}, "input_shape": (3, 8)},
            {"config": {"pool_size": 2, "stride": 3}, "input_shape": (1, 8)},
        )
    )

    def __init__(self, pool_size: int, stride: int | None = None, padding: int = 0) -> None:
        self.pool_size = _positive_int(pool_size, f"{self.name} pool_size")
        self.stride = None if stride is None else _positive_int(stride, f"{self.name} stride")
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"{self.name} padding must be an integer >= 0, got {padding!r}")
        self.padding = int(padding)
        self._set_window((1, self.pool_size), (1, self.stride or self.pool_size), (0, self.padding))

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        if len(input_shape) != 2:
            raise ValueError(
                f"{self.name} takes inputs of shape (channels, length) per sample (NCL), got "
                f"{tuple(input_shape)}"
            )
        c, length = (int(d) for d in input_shape)
        if self.pool_size > length + 2 * self.padding:
            raise ValueError(
                f"{self.name} pool_size {self.pool_size} is larger than its padded input length "
                f"{length + 2 * self.padding}; use a smaller pool_size"
            )
        super().build((c, 1, length), rng=rng, dtype=dtype)
        return (c, self.out_size[1])

    def forward(self, x: Array, *, training: bool = False) -> Array:
        n, c, length = x.shape
        return super().forward(x.reshape(n, c, 1, length), training=training).reshape(n, c, -1)

    def backward(self, grad: Array) -> Array:
        n, c, lo = grad.shape
        return super().backward(grad.reshape(n, c, 1, lo)).reshape(n, c, -1)


class MaxPool1D(_Pool1D, MaxPool2D):
    """Max pooling over (N, C, L): y[n, c, p] = max_j xp[n, c, p·s + j], padded with −∞.

    The gradient of a window goes to its first (left-most) maximum, as in :class:`MaxPool2D`.
    """

    name = "max_pool1d"


class AvgPool1D(_Pool1D, AvgPool2D):
    """Average pooling over (N, C, L): y[n, c, p] = (1 / k) Σ_j xp[n, c, p·s + j].

    Zero padding counts (PyTorch's count_include_pad=True); every window element gets 1 / k of
    its gradient.
    """

    name = "avg_pool1d"


class GlobalAvgPool(Configurable):
    """The mean over every axis after the channel axis: (N, C, L) or (N, C, H, W) → (N, C).

    y[n, c] = (1 / m) Σ x[n, c, ...] over the m positions; backward: dx[n, c, ...] = g[n, c] / m.
    Channels first, as PyTorch's adaptive_avg_pool to size 1 (Keras's GlobalAveragePooling1D
    and 2D average the same positions but default to channels last).
    """

    conformance = Conformance(
        cases=({"config": {}, "input_shape": (3, 5)}, {"config": {}, "input_shape": (2, 3, 4)})
    )

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        if len(input_shape) < 2:
            raise ValueError(
                f"global_avg_pool takes inputs of shape (channels, length) or (channels, height, "
                f"width) per sample, got {tuple(input_shape)}: there is no axis to average over"
            )
        return (int(input_shape[0]),)

    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.x_shape = x.shape
        return x.mean(axis=tuple(range(2, x.ndim)))

    def backward(self, grad: Array) -> Array:
        n, c, *positions = self.x_shape
        share = grad * (1.0 / int(np.prod(positions)))
        return np.broadcast_to(share.reshape(n, c, *(1 for _ in positions)), self.x_shape).copy()


@hookimpl
def register_layers(register: Register) -> None:
    register(MaxPool2D, name="max_pool2d", aliases=("max_pooling2d",))
    register(AvgPool2D, name="avg_pool2d", aliases=("average_pooling2d",))
    register(MaxPool1D, name="max_pool1d", aliases=("max_pooling1d",))
    register(AvgPool1D, name="avg_pool1d", aliases=("average_pooling1d",))
    register(
        GlobalAvgPool,
        name="global_avg_pool",
        aliases=("global_average_pooling1d", "global_average_pooling2d"),
    )


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------


def lower_pool(layer: _Pool2D, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """ONNX MaxPool or AveragePool with the layer's window, stride and symmetric padding, and
    floor rounding (ceil_mode 0) as plugnet's output size. ONNX's MaxPool ignores padded
    cells, as plugnet's −∞ padding does; AveragePool's ``count_include_pad=1`` divides by the
    whole window, as plugnet's zero padding does. ONNX Runtime has no float64 AveragePool, so
    in float64 the average is composed: the sum of the zero-padded windows times 1/(kh·kw)."""
    kernel, strides, pads, out = onnx_window(
        layer.window, layer.strides, layer.pads, layer.out_size, one_d=isinstance(layer, _Pool1D)
    )
    window: dict[str, Any] = {
        "kernel_shape": kernel,
        "strides": strides,
        "pads": pads,
        "ceil_mode": 0,
    }
    if isinstance(layer, MaxPool2D):
        return str(graph.node("MaxPool", inputs, hint="max", **window))
    if graph.dtype == np.float64:
        total = graph.node("Sum", window_slices(graph, inputs[0], kernel, strides, pads, out))
        share = graph.constant(1.0 / int(np.prod(kernel)), "share")
        return str(graph.node("Mul", [total, share], hint="mean"))
    return str(graph.node("AveragePool", inputs, hint="mean", count_include_pad=1, **window))


def lower_global_avg_pool(layer: GlobalAvgPool, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """ReduceMean over every axis after the channel axis (opset 17 takes them as an
    attribute), dropping them: (N, C, ...) → (N, C)."""
    axes = list(range(2, len(graph.shape(inputs[0])) + 1))
    return str(graph.node("ReduceMean", inputs, hint="mean", axes=axes, keepdims=0))


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    for name in ("max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d"):
        register(lower_pool, f"plugnet:{name}")
    register(lower_global_avg_pool, "plugnet:global_avg_pool")
