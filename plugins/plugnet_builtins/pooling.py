"""2-D max and average pooling over NCHW inputs.

The windows are copied into columns laid out (kh·kw, N, C, Ho, Wo), so the pool is a reduction
over the first axis. Backward adds each column back where it came from, one strided add per
pool offset (i, j), never a loop over output pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape
from plugnet_builtins._im2col import (
    Padding,
    Workspace,
    as_config,
    offsets,
    output_size,
    pair,
    windows,
)
from plugnet_builtins.conv import image_shape


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
        self.window = pair(pool_size, f"{self.name} pool_size")
        self.strides = self.window if stride is None else pair(stride, f"{self.name} stride")
        ph, pw = pair(padding, f"{self.name} padding", minimum=0)
        if 2 * ph > self.window[0] or 2 * pw > self.window[1]:
            raise ValueError(
                f"{self.name} padding {padding!r} is more than half of pool_size {pool_size!r}, "
                f"so some windows would hold only padding; use padding <= pool_size // 2"
            )
        self.pool_size = as_config(pool_size)
        self.stride = as_config(stride)
        self.padding = as_config(padding)
        self.pads: Padding = ((ph, ph), (pw, pw))
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

    def _columns(self, x: Array) -> Array:
        """cols[i·kw + j, n, c, p, q] = xp[n, c, p·sh + i, q·sw + j], in a reused buffer."""
        self.x_shape, self.dtype = x.shape, x.dtype
        xp = self.workspace.pad(x, self.pads, fill=self.fill)
        (kh, kw), (ho, wo) = self.window, self.out_size
        cols = self.workspace.get("cols", (kh, kw, *x.shape[:2], ho, wo), x.dtype)
        np.copyto(cols, windows(xp, self.window, self.strides).transpose(4, 5, 0, 1, 2, 3))
        return cols.reshape(kh * kw, *x.shape[:2], ho, wo)

    def _input_grad(self, dcols: Array) -> Array:
        """dx from dE/dcols (kh·kw, N, C, Ho, Wo): add each column entry back where it was
        copied from (overlapping windows add up), in the padded frame, then crop."""
        n, c, h, w = self.x_shape
        (ph, _), (pw, _) = self.pads
        dxp = self.workspace.get("dxp", (n, c, h + 2 * ph, w + 2 * pw), dcols.dtype)
        dxp.fill(0)
        for k, (_, _, (rows, columns)) in enumerate(
            offsets(self.window, self.strides, self.out_size)
        ):
            dxp[:, :, rows, columns] += dcols[k]
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
        cols = self._columns(x)
        y = cols.max(axis=0)
        # winner[k] marks the window elements that get the gradient: the first k holding the max
        self.winner = np.empty(cols.shape, dtype=bool)
        taken = np.zeros(y.shape, dtype=bool)
        for k in range(cols.shape[0]):
            np.equal(cols[k], y, out=self.winner[k])
            self.winner[k] &= ~taken
            taken |= self.winner[k]
        return y

    def backward(self, grad: Array) -> Array:
        return self._input_grad(self.winner * grad)


class AvgPool2D(_Pool2D):
    """Average pooling: y[n, c, p, q] = (1 / (kh·kw)) Σ over the window of xp.

    Padding is zeros and counts in the average (PyTorch's count_include_pad=True). Every element
    of a window gets 1 / (kh·kw) of its gradient; overlapping windows add up.
    """

    name = "avg_pool2d"

    def forward(self, x: Array, *, training: bool = False) -> Array:
        cols = self._columns(x)
        return cols.sum(axis=0) * (1.0 / cols.shape[0])

    def backward(self, grad: Array) -> Array:
        share = grad * (1.0 / (self.window[0] * self.window[1]))
        return self._input_grad(
            np.broadcast_to(share, (self.window[0] * self.window[1], *share.shape))
        )


@hookimpl
def register_layers(register: Register) -> None:
    register(MaxPool2D, name="max_pool2d", aliases=("max_pooling2d",))
    register(AvgPool2D, name="avg_pool2d", aliases=("average_pooling2d",))
