"""1-D and 2-D convolution over NCL and NCHW inputs, as one matrix product on im2col columns.

conv1d is conv2d on a height-1 image: (N, C, L) is viewed as (N, C, 1, L) and the kernel as
(1, k), so both share one forward, one backward and one set of buffers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from plugnet import nested
from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape
from plugnet_builtins import jit
from plugnet_builtins._im2col import (
    Padding,
    Pair,
    Workspace,
    as_config,
    col2im,
    col2im_rows,
    im2col,
    im2col_rows,
    output_size,
    pair,
    same_padding,
    swap_crop,
)
from plugnet_builtins.layers import ActivationSpec, InitializerSpec, _positive_int, initializer_for

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph

T = TypeVar("T")


def image_shape(input_shape: Shape, layer: str) -> tuple[int, int, int]:
    """(C, H, W) from a per-sample shape, or a ValueError that says how to get there."""
    if len(input_shape) != 3:
        raise ValueError(
            f"{layer} takes inputs of shape (channels, height, width) per sample (NCHW), got "
            f"{tuple(input_shape)}; reshape flat inputs first, e.g. a reshape layer with "
            f"shape = [1, 8, 8] for 8×8 grey images"
        )
    c, h, w = (int(d) for d in input_shape)
    return c, h, w


def check_padding(padding: Any, layer: str = "conv2d") -> Any:
    """``"valid"``, ``"same"``, an int ≥ 0 or (for conv2d) a pair of them; anything else is a
    ValueError."""
    if isinstance(padding, str):
        if padding.lower() in ("valid", "same"):
            return padding.lower()
    elif layer == "conv2d" or not isinstance(padding, (tuple, list)):
        try:
            return pair(padding, "padding", minimum=0)
        except ValueError:
            pass
    pairs = " or a pair (ph, pw) of them" if layer == "conv2d" else ""
    raise ValueError(
        f'{layer} padding must be "valid", "same" or an integer >= 0{pairs}, got {padding!r}'
    )


def resolve_padding(padding: Any, size: Pair, kernel: Pair, stride: Pair) -> Padding:
    """((top, bottom), (left, right)) for an input of (H, W)."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return (
            same_padding(size[0], kernel[0], stride[0]),
            same_padding(size[1], kernel[1], stride[1]),
        )
    ph, pw = pair(padding, "padding", minimum=0)
    return (ph, ph), (pw, pw)


class Conv2D(Configurable):
    """2-D convolution over (N, C, H, W) inputs: u = w ⋆ x + b, y = f(u).

    u[n, f, p, q] = b[f] + Σ_c Σ_i Σ_j w[f, c, i, j] · xp[n, c, p·sh + i, q·sw + j]

    where xp is x padded. ``w`` has shape (filters, in_channels, kh, kw) and ``b`` (filters,),
    as in PyTorch. It is a cross-correlation (the kernel is not flipped), as in every framework.

    As matrices, with X = im2col(xp) of shape (C·kh·kw, N·Ho·Wo) and W = w.reshape(F, C·kh·kw):
    U = W X + b. Backward, with Δ = dE/dU: dW = Δ Xᵀ, db = Σ_columns Δ, dX = Wᵀ Δ and
    dx = col2im(dX), which adds up overlapping windows for any stride.

    ``padding``: "valid" (none), "same" (output size ⌈H / stride⌉, the odd extra row and column
    at the bottom and right, as in PyTorch and TensorFlow), an int, or a pair (ph, pw).
    """

    skips_input_grad = True  # backward(grad, *, need_input_grad): see SkipsInputGrad
    conformance = Conformance(
        cases=(
            {"config": {"filters": 3, "kernel_size": 3}, "input_shape": (2, 5, 5)},
            {
                "config": {"filters": 3, "kernel_size": 3, "padding": "same"},
                "input_shape": (2, 5, 5),
            },
            {
                "config": {"filters": 2, "kernel_size": 3, "stride": 2, "padding": "same"},
                "input_shape": (2, 6, 5),
            },
            {
                "config": {"filters": 2, "kernel_size": (2, 3), "stride": 2, "padding": 1},
                "input_shape": (2, 6, 7),
            },
            {
                "config": {"filters": 2, "kernel_size": 2, "padding": "same"},
                "input_shape": (1, 4, 5),
            },
            {
                "config": {
                    "filters": 2,
                    "kernel_size": (3, 2),
                    "stride": (1, 2),
                    "activation": "tanh",
                },
                "input_shape": (2, 5, 6),
            },
            {
                "config": {"filters": 2, "kernel_size": 3, "stride": 2, "use_bias": False},
                "input_shape": (1, 7, 7),
            },
        )
    )

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = "valid",
        activation: ActivationSpec = "identity",
        initializer: InitializerSpec = None,
        use_bias: bool = True,
    ) -> None:
        self.filters = _positive_int(filters, "conv2d filters")
        self.kernel = pair(kernel_size, "conv2d kernel_size")
        self.strides = pair(stride, "conv2d stride")
        self.kernel_size = as_config(kernel_size)
        self.stride = as_config(stride)
        check_padding(padding)
        self.padding = padding.lower() if isinstance(padding, str) else as_config(padding)
        self._set_up(activation, initializer, use_bias)

    def _set_up(
        self, activation: ActivationSpec, initializer: InitializerSpec, use_bias: bool
    ) -> None:
        """The arguments and state that conv1d and conv2d share."""
        self.component_specs: dict[str, dict[str, Any]] = {}
        self.activation = nested.argument(self, "activation", "activation", activation)
        self.initializer = initializer_for(self, self.activation, initializer)
        self.use_bias = bool(use_bias)
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.workspace = Workspace()

    def get_config(self) -> dict[str, Any]:
        return {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "activation": nested.spec(self, "activation", self.activation),
            "initializer": nested.spec(self, "initializer", self.initializer),
            "use_bias": self.use_bias,
        }

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        c, h, w = image_shape(input_shape, "conv2d")
        self.pads = resolve_padding(self.padding, (h, w), self.kernel, self.strides)
        (top, bottom), (left, right) = self.pads
        if self.kernel[0] > top + h + bottom or self.kernel[1] > left + w + right:
            raise ValueError(
                f"conv2d kernel {self.kernel} is larger than its padded input "
                f"({top + h + bottom}, {left + w + right}); use a smaller kernel_size or more "
                f"padding"
            )
        self._build_params((self.filters, c, *self.kernel), (h, w), rng=rng, dtype=dtype)
        return (self.filters, *self.out_size)

    def _build_params(
        self,
        weight_shape: tuple[int, ...],
        size: Pair,
        *,
        rng: np.random.Generator,
        dtype: np.dtype[Any],
    ) -> None:
        """out_size from ``size`` (H, W) and self.pads; w of ``weight_shape`` and b."""
        (kh, kw), (sh, sw), ((top, bottom), (left, right)) = self.kernel, self.strides, self.pads
        self.out_size = (
            output_size(size[0], kh, sh, top, bottom),
            output_size(size[1], kw, sw, left, right),
        )
        self.params = {"w": self.initializer(weight_shape, rng=rng, dtype=dtype)}
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters, dtype=dtype)
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def forward(self, x: Array, *, training: bool = False) -> Array:
        n = x.shape[0]
        (ho, wo), f = self.out_size, self.filters
        self.x_shape = x.shape
        # the compiled kernels, or None; kept for backward, which reads what this forward left
        self.kernels = kernels = jit.for_array(x)
        self.chunk = self._chunk_samples(x)
        if kernels is not None and self.chunk < n:
            u = self._forward_by_chunks(kernels, x)
        else:
            X = self.columns = self._columns(x)
            self.cols_hold_x = True  # backward reuses the cols buffer for dX afterwards
            W = self.params["w"].reshape(f, -1)
            U = self.workspace.get("u", (f, X.shape[1]), np.result_type(W, X))
            np.matmul(W, X, out=U)
            u = np.empty((n, f, ho, wo), dtype=U.dtype)  # (F, N, Ho, Wo) → NCHW, adding b
            bias = self.params["b"] if self.use_bias else None
            swap_crop(U.reshape(f, n, ho, -1), 0, 0, u, bias)
        self.u: Array = u
        self.y = self.activation.forward(u)
        return self.y

    def _chunk_samples(self, x: Array) -> int:
        """Samples per chunk of the compiled path (:mod:`plugnet_builtins.jit`) at stride 1,
        on whole padded rows; the whole batch (no chunks) elsewhere, and always on the NumPy
        path.

        - A batch whose columns are larger than ``CHUNK_COLUMN_BYTES`` is walked a chunk of
          samples at a time, each chunk's columns built, multiplied and (backward) rebuilt
          while they are in the cache, so that the products read them from the cache instead
          of memory: (64, 16, 32, 32) with 32 filters 3×3, a training step 33.1 → 26.4 ms
          against the whole batch (5 samples a chunk, 3.0 MiB of columns).
        - With several lanes (:mod:`plugnet_builtins._lanes`), the lanes share the chunks.
          A batch of one chunk stays on the calling thread: waking a lane's thread after it
          slept cost more than a small batch gains (conv1d (100, 25, 40), 2.2 MB of columns:
          a step's minimum 1.67 → 2.03 ms in two lanes)."""
        n, c = x.shape[0], x.shape[1]
        if self.strides != (1, 1) or self.kernels is None:
            return n
        (kh, kw), (ho, _) = self.kernel, self.out_size
        wp = x.shape[3] + self.pads[1][0] + self.pads[1][1]
        per_sample = c * kh * kw * ho * wp * x.itemsize
        return max(1, min(n, CHUNK_COLUMN_BYTES // per_sample))

    def _in_lanes(self, n: int, work: Callable[[Workspace, int, int], T]) -> list[T]:
        """``work(workspace, start, stop)`` for each lane's share of the n samples, run at once
        in lanes (:mod:`plugnet_builtins._lanes`), each with its own buffers; one lane (the
        calling thread) where the BLAS has one thread or the batch has one chunk."""
        from plugnet_builtins import _lanes  # on the first chunks, not at start-up

        lanes = min(_lanes.count(), -(-n // self.chunk))
        bounds = [n * k // lanes for k in range(lanes + 1)]
        return _lanes.run(
            [partial(work, self.workspace.lane(k), bounds[k], bounds[k + 1]) for k in range(lanes)]
        )

    def _forward_by_chunks(self, kernels: ModuleType, x: Array) -> Array:
        """u as :meth:`forward` computes it, a chunk of samples at a time (the compiled
        kernels), the chunks shared among lanes: columns into a chunk's buffer, U = W X, and
        (F, m, Ho, Wp) → (m, F, Ho, Wo) with the bias. Keeps xp (its spare values after it),
        not the columns."""
        n, (ho, wo), f = x.shape[0], self.out_size, self.filters
        self.xp = self.workspace.pad(x, self.pads, spare=self.kernel[1])
        self.cols_hold_x = False  # a backward without chunks rebuilds all columns
        W = self.params["w"].reshape(f, -1)
        u = np.empty((n, f, ho, wo), dtype=np.result_type(W, x))
        bias = self.params["b"] if self.use_bias else None
        run = ho * self.xp.shape[3]

        def forward_samples(workspace: Workspace, start: int, stop: int) -> None:
            buffer = workspace.get("u", (f * self.chunk * run,), u.dtype)
            for first, X in self._chunk_columns(kernels, workspace, start, stop):
                m = X.shape[1] // run
                U = np.matmul(W, X, out=buffer[: f * m * run].reshape(f, -1))
                swap_crop(U.reshape(f, m, ho, -1), 0, 0, u[first : first + m], bias)

        self._in_lanes(n, forward_samples)
        return u

    def _chunk_columns(
        self, kernels: ModuleType, workspace: Workspace, start: int, stop: int
    ) -> Iterator[tuple[int, Array]]:
        """(first sample, columns (C·kh·kw, m·Ho·Wp)) of each chunk of at most ``self.chunk``
        of the samples start to stop of xp, built in one reused buffer of ``workspace``: each
        is overwritten by the next."""
        _, c, hp, wp = self.xp.shape
        (kh, kw), ho = self.kernel, self.out_size[0]
        flat, plane = self._padded_buffer(), hp * wp
        run = ho * wp
        buffer = workspace.get("chunk_cols", (c * kh * kw * self.chunk * run,), flat.dtype)
        for first in range(start, stop, self.chunk):
            m = min(self.chunk, stop - first)
            cols = buffer[: c * kh * kw * m * run].reshape(c, kh, kw, m, run)
            kernels.im2col_rows(flat[first * c * plane :], (m, c, hp, wp), kh, kw, cols)
            yield first, cols.reshape(c * kh * kw, m * run)

    def _backward_by_chunks(
        self, kernels: ModuleType, delta: Array, need_input_grad: bool
    ) -> Array | None:
        """:meth:`backward_linear` for a forward in chunks, the chunks shared among lanes: per
        chunk, the columns rebuilt, dWᵀ += X Δᵀ, and dX = Wᵀ Δ into the columns' buffer, added
        back into dx; each lane's dWᵀ and db, then their sums."""
        n, c, h, w = self.x_shape
        _, _, hp, wp = self.xp.shape
        (kh, kw), (ho, wo), f = self.kernel, self.out_size, self.filters
        (top, _), (left, _) = self.pads
        W = self.params["w"].reshape(f, -1)
        dx = np.empty((n, c, h, w), delta.dtype) if need_input_grad else None

        def backward_samples(
            workspace: Workspace, start: int, stop: int
        ) -> tuple[Array, Array | None]:
            dWT = workspace.get("dwt", (c * kh * kw, f), delta.dtype)
            part = workspace.get("dwt_part", (c * kh * kw, f), delta.dtype)
            dWT.fill(0)
            D = workspace.get("delta", (f * self.chunk * ho * wp,), delta.dtype)
            dxp = workspace.get("dxp", (c * self.chunk * hp * wp + kw,), delta.dtype)
            for first, X in self._chunk_columns(kernels, workspace, start, stop):
                m = X.shape[1] // (ho * wp)
                Dm = D[: f * m * ho * wp].reshape(f, m, ho, wp)
                Dm[..., wo:] = 0  # the columns q ≥ Wo: zero, so they add nothing
                swap_crop(delta[first : first + m], 0, 0, Dm[..., :wo])
                Delta = Dm.reshape(f, -1)
                np.matmul(X, Delta.T, out=part)
                dWT += part
                if dx is not None:
                    dX = np.matmul(W.T, Delta, out=X)
                    kernels.col2im_rows(dX.reshape(c, kh, kw, m, -1), (m, c, hp, wp), dxp)
                    planes = dxp[: c * m * hp * wp].reshape(c, m, hp, wp)
                    swap_crop(planes, top, left, dx[first : first + m])
            if not self.use_bias:
                return dWT, None
            return dWT, kernels.channel_sums(delta[start:stop].reshape(stop - start, f, -1))

        (dWT, db), *others = self._in_lanes(n, backward_samples)
        for lane_dWT, lane_db in others:
            dWT += lane_dWT
            if db is not None:
                db += lane_db
        np.copyto(self.grads["w"].reshape(f, -1), dWT.T)
        if db is not None:
            self.grads["b"][...] = db
        return dx

    def _by_rows(self) -> bool:
        """Whether the columns are whole padded rows (:func:`im2col_rows`): at stride 1, where
        a kernel offset is a constant shift of the flattened rows, and for kernels more than
        one row high; a one-row kernel (conv1d's) already copies whole rows of Wo values, and
        the Wp − Wo extra columns would only add work.

        Copies and adds of Ho·Wp values instead of Wo cost fewer NumPy inner loops, for
        Wp − Wo extra columns in every product: (32, 16, 4, 4) with 32 filters 3×3, a training
        step 0.92 → 0.64 ms; (64, 16, 32, 32) 36.9 → 35.8 ms; (32, 1, 8, 8) without dx, where
        no col2im is saved, 0.15 → 0.19 ms."""
        return self.strides == (1, 1) and self.kernel[0] > 1

    def _columns(self, x: Array) -> Array:
        """X = im2col(xp), (C·kh·kw, N·Ho·Wo), with ``xp``, x padded, kept for backward."""
        # im2col_rows reads kw − 1 values past xp; with spare > 0, xp is always our buffer.
        spare = self.kernel[1] if self._by_rows() else 0
        self.xp = self.workspace.pad(x, self.pads, spare=spare)
        return self._columns_of_xp()

    def _padded_buffer(self) -> Array:
        """The workspace buffer that ``xp`` is the start of (with the spare values after it)."""
        flat = self.xp.base
        assert flat is not None and flat.ndim == 1  # Workspace.pad with spare > 0 made it
        return flat

    def _columns_of_xp(self) -> Array:
        """X from ``xp`` into the cols buffer; at stride 1 of whole padded rows, (C·kh·kw,
        N·Ho·Wp), whose columns q ≥ Wo the products crop or multiply by zero."""
        n, c, _, wp = self.xp.shape
        (kh, kw), (ho, wo) = self.kernel, self.out_size
        if self._by_rows():
            cols = self.workspace.get("cols", (c, kh, kw, n, ho * wp), self.xp.dtype)
            im2col_rows(self._padded_buffer(), self.xp.shape, self.kernel, out=cols)
            return cols.reshape(c * kh * kw, n * ho * wp)
        cols = self.workspace.get("cols", (c, kh, kw, n, ho, wo), self.xp.dtype)
        im2col(self.xp, self.kernel, self.strides, out=cols)
        return cols.reshape(c * kh * kw, n * ho * wo)

    def backward(self, grad: Array, *, need_input_grad: bool = True) -> Array | None:
        delta = self.activation.backward(self.u, self.y, grad)
        return self.backward_linear(delta, need_input_grad=need_input_grad)

    def backward_linear(self, delta: Array, *, need_input_grad: bool = True) -> Array | None:
        """Given δ = dE/du (N, F, Ho, Wo): dW = Δ Xᵀ, db = Σ Δ, and dx = col2im(Wᵀ Δ)."""
        n, c, h, w = self.x_shape
        kernels = self.kernels  # the forward's: a chunked forward kept no columns
        same_layout = delta.dtype == self.xp.dtype and delta.flags.c_contiguous
        if kernels is not None and self.chunk < n and same_layout:
            return self._backward_by_chunks(kernels, delta, need_input_grad)
        (kh, kw), (ho, wo), f = self.kernel, self.out_size, self.filters
        width = self.xp.shape[3] if self._by_rows() else wo  # columns per output row
        X = self.columns if self.cols_hold_x else self._columns_of_xp()  # a second backward
        # Δ in X's column order; at stride 1 the columns q ≥ Wo stay zero (written at creation,
        # never after), so the garbage columns of X add nothing to dW and make dX zero there.
        D = self.workspace.get("delta", (f, n, ho, width), delta.dtype, fill=0.0)
        swap_crop(delta, 0, 0, D[..., :wo])
        Delta = D.reshape(f, -1)
        # dWᵀ = X Δᵀ, then transposed into grads: OpenBLAS runs this orientation of the long
        # product (inner dimension N·Ho·Wo) about 20% faster than Δ Xᵀ (7.2 → 5.8 ms at the
        # benchmark's shape); the transposing copy is of a (F, C·kh·kw) matrix only.
        dWT = self.workspace.get("dwt", (X.shape[0], f), np.result_type(X, Delta))
        np.matmul(X, Delta.T, out=dWT)
        np.copyto(self.grads["w"].reshape(f, -1), dWT.T)
        if self.use_bias:
            np.add.reduce(Delta, axis=1, out=self.grads["b"])
        if not need_input_grad:
            return None
        W = self.params["w"].reshape(f, -1)
        if X.dtype == np.result_type(W, Delta):
            dX = np.matmul(W.T, Delta, out=X)  # X is spent: reuse its memory for dX
            self.cols_hold_x = False
        else:
            dX = W.T @ Delta
        if self._by_rows():
            shape = (n, c, *self.xp.shape[2:])
            flat = self.workspace.get("dxp", (self._padded_buffer().size,), dX.dtype)
            dxp = col2im_rows(dX.reshape(c, kh, kw, n, -1), shape, flat)
        else:
            dxp = self.workspace.get("dxp", (c, n, *self.xp.shape[2:]), dX.dtype)
            col2im(dX.reshape(c, kh, kw, n, ho, wo), self.strides, out=dxp)
        (top, _), (left, _) = self.pads
        return swap_crop(dxp, top, left, np.empty((n, c, h, w), dxp.dtype))


class Conv1D(Conv2D):
    """1-D convolution over (N, C, L) inputs: u = w ⋆ x + b, y = f(u).

    u[n, f, p] = b[f] + Σ_c Σ_j w[f, c, j] · xp[n, c, p·s + j]

    with ``w`` of shape (filters, in_channels, width) and ``b`` (filters,), as in
    torch.nn.Conv1d. Computed as :class:`Conv2D` on the height-1 image (N, C, 1, L) with a
    (1, width) kernel, so forward and backward are the same products:
    U = W X + b; dW = Δ Xᵀ, db = Σ_columns Δ, dx = col2im(Wᵀ Δ).

    ``padding``: "valid", "same" (output length ⌈L / stride⌉, an odd extra at the end) or an int.
    """

    conformance = Conformance(
        cases=(
            {"config": {"filters": 3, "kernel_size": 3}, "input_shape": (2, 7)},
            {"config": {"filters": 2, "kernel_size": 4, "padding": "same"}, "input_shape": (3, 6)},
            {
                "config": {"filters": 2, "kernel_size": 3, "stride": 2, "padding": "same"},
                "input_shape": (2, 7),
            },
            {
                "config": {"filters": 2, "kernel_size": 2, "stride": 3, "padding": 1},
                "input_shape": (2, 8),
            },
            {
                "config": {"filters": 2, "kernel_size": 3, "activation": "tanh"},
                "input_shape": (1, 6),
            },
            {
                "config": {"filters": 2, "kernel_size": 3, "stride": 2, "use_bias": False},
                "input_shape": (2, 7),
            },
        )
    )

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        stride: int = 1,
        padding: str | int = "valid",
        activation: ActivationSpec = "identity",
        initializer: InitializerSpec = None,
        use_bias: bool = True,
    ) -> None:
        self.filters = _positive_int(filters, "conv1d filters")
        self.kernel = (1, _positive_int(kernel_size, "conv1d kernel_size"))
        self.strides = (1, _positive_int(stride, "conv1d stride"))
        self.kernel_size, self.stride = self.kernel[1], self.strides[1]
        self.padding = check_padding(padding, "conv1d")
        if not isinstance(self.padding, str):
            self.padding = self.padding[0]
        self._set_up(activation, initializer, use_bias)

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        if len(input_shape) != 2:
            raise ValueError(
                f"conv1d takes inputs of shape (channels, length) per sample (NCL), got "
                f"{tuple(input_shape)}; for a sequence of features (length, features) put the "
                f"features first with a transpose, or reshape flat inputs to [1, length]"
            )
        c, length = (int(d) for d in input_shape)
        as_2d = self.padding if isinstance(self.padding, str) else (0, self.padding)
        self.pads = resolve_padding(as_2d, (1, length), self.kernel, self.strides)
        before, after = self.pads[1]
        if self.kernel_size > before + length + after:
            raise ValueError(
                f"conv1d kernel_size {self.kernel_size} is larger than its padded input length "
                f"{before + length + after}; use a smaller kernel_size or more padding"
            )
        self._build_params((self.filters, c, self.kernel_size), (1, length), rng=rng, dtype=dtype)
        return (self.filters, self.out_size[1])

    def forward(self, x: Array, *, training: bool = False) -> Array:
        n, c, length = x.shape
        super().forward(x.reshape(n, c, 1, length), training=training)
        # u and y as (N, F, Lo) views, so that Conv2D.backward's activation step and a fused
        # output backward see the layer's own output shape
        self.u, self.y = (a.reshape(n, self.filters, -1) for a in (self.u, self.y))
        return self.y

    def backward_linear(self, delta: Array, *, need_input_grad: bool = True) -> Array | None:
        """Given δ = dE/du (N, F, Lo): dW and db as :meth:`Conv2D.backward_linear`. At stride 1,
        after a forward without chunks, dx is the transposed convolution dxp[t] = Σ_j w[j]
        δ[t − j]: δ padded with k − 1 zeros on each side, correlated with the flipped kernel,
        which is one im2col and one product instead of col2im's k strided adds (about 0.2 ms
        of 3 ms at the benchmark's size)."""
        n, f, lo = delta.shape
        as_2d = delta.reshape(n, f, 1, lo)
        if self.stride != 1 or not need_input_grad or self.chunk < n:  # chunks: Conv2D's dx
            dx = super().backward_linear(as_2d, need_input_grad=need_input_grad)
            return None if dx is None else dx.reshape(n, -1, dx.shape[3])
        super().backward_linear(as_2d, need_input_grad=False)  # dW and db
        c, k, length = self.params["w"].shape[1], self.kernel_size, self.x_shape[3]
        before = self.pads[1][0]
        dpad = self.workspace.pad(as_2d, ((0, 0), (k - 1, k - 1)), name="delta_pad")
        cols = self.workspace.get("delta_cols", (f, 1, k, n, 1, length), delta.dtype)
        im2col(dpad[..., before : before + length + k - 1], self.kernel, self.strides, out=cols)
        flipped = self.params["w"][:, :, ::-1].transpose(1, 0, 2).reshape(c, f * k)
        dx = flipped @ cols.reshape(f * k, n * length)  # (C, N·L)
        out = np.empty((n, c, 1, length), dx.dtype)
        return swap_crop(dx.reshape(c, n, 1, length), 0, 0, out).reshape(n, c, length)


# Bytes of im2col columns per chunk on the compiled path (Conv2D._chunk_samples): a few times
# the L2 cache, which the products still read faster than memory. At the benchmark's shape (5
# samples a chunk) a step measured 27.2 ms, against 30.3 with 6 MiB, 37.7 with 12 and 33.8 for
# the whole batch, interleaved.
CHUNK_COLUMN_BYTES = 3 << 20


@hookimpl
def register_layers(register: Register) -> None:
    register(Conv2D, name="conv2d", aliases=("conv", "convolution2d"))
    register(Conv1D, name="conv1d", aliases=("convolution1d",))


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------


def onnx_window(
    kernel: Pair, strides: Pair, pads: Padding, out_size: Pair, *, one_d: bool
) -> tuple[list[int], list[int], list[int], list[int]]:
    """A window's kernel, strides, pads (ONNX's [begins..., ends...]) and output size over the
    spatial axes of the ONNX value: (H, W), or (L,) for a 1-D layer, which keeps its window as
    (1, k) on a height-1 image."""
    axes = (1,) if one_d else (0, 1)
    begins, ends = [pads[a][0] for a in axes], [pads[a][1] for a in axes]
    return (
        [kernel[a] for a in axes],
        [strides[a] for a in axes],
        begins + ends,
        [out_size[a] for a in axes],
    )


def window_slices(
    graph: OnnxGraph,
    x: str,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    out_size: Sequence[int],
) -> list[str]:
    """For each kernel offset, in row-major order as :func:`im2col` takes them, the strided
    slice of ``x`` (N, C, *spatial) zero-padded by ``pads`` (ONNX's [begins..., ends...]) that
    the offset touches: each (N, C, *out_size). The float64 composition of Conv and
    AveragePool, which ONNX Runtime's CPU kernels run in float32 only."""
    if any(pads):
        zeros = [0, 0]
        pad_list = [*zeros, *pads[: len(kernel)], *zeros, *pads[len(kernel) :]]
        x = graph.node("Pad", [x, graph.constant(np.array(pad_list), "pads")], hint="padded")
    axes = graph.constant(np.arange(2, 2 + len(kernel)), "window_axes")
    steps = graph.constant(np.array(strides), "window_steps")
    slices = []
    for offset in np.ndindex(*kernel):
        ends = [i + s * (o - 1) + 1 for i, s, o in zip(offset, strides, out_size, strict=True)]
        starts = graph.constant(np.array(offset), "window_start")
        stops = graph.constant(np.array(ends), "window_end")
        slices.append(graph.node("Slice", [x, starts, stops, axes, steps], hint="window"))
    return slices


def lower_conv(layer: Conv2D, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """ONNX Conv, then the activation's lowering. ``w`` is already in ONNX's layout,
    (M, C, kH, kW) or (M, C, k); the padding resolved at build ("same" included) becomes the
    explicit ``pads`` [begins..., ends...], so ONNX never re-derives it. In float64 the same
    product composed, as the forward computes it: the windows stacked as im2col columns
    (N, C·kh·kw, Ho·Wo), one MatMul with ``w`` as (M, C·kh·kw), plus ``b``."""
    w = layer.params["w"]
    kernel, strides, pads, out = onnx_window(
        layer.kernel, layer.strides, layer.pads, layer.out_size, one_d=isinstance(layer, Conv1D)
    )
    if graph.dtype == np.float64:
        axis = graph.constant(np.array([2]), "offset_axis")
        slices = window_slices(graph, inputs[0], kernel, strides, pads, out)
        stacked = graph.node("Concat", [graph.node("Unsqueeze", [s, axis]) for s in slices], axis=2)
        columns_shape = graph.constant(np.array([0, w[0].size, int(np.prod(out))]), "cols_shape")
        columns = graph.node("Reshape", [stacked, columns_shape], hint="cols")
        product = graph.node("MatMul", [graph.constant(w.reshape(len(w), -1), "w"), columns])
        u_shape = graph.constant(np.array([0, len(w), *out]), "u_shape")
        u = graph.node("Reshape", [product, u_shape], hint="u")
        if layer.use_bias:
            bias = layer.params["b"].reshape(-1, *(1 for _ in out))
            u = graph.node("Add", [u, graph.constant(bias, "b")], hint="u")
    else:
        operands = [inputs[0], graph.constant(w, "w")]
        if layer.use_bias:
            operands.append(graph.constant(layer.params["b"], "b"))
        u = graph.node("Conv", operands, hint="u", kernel_shape=kernel, strides=strides, pads=pads)
    return graph.lower(layer.activation, [u])


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    register(lower_conv, "plugnet:conv2d")
    register(lower_conv, "plugnet:conv1d")
