"""Batch normalization for dense (N, C) and convolutional (N, C, H, W) inputs, and layer
normalization over the last axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape
from plugnet_builtins import _chunks as chunking
from plugnet_builtins import jit
from plugnet_builtins._checks import number

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph


class BatchNorm(Configurable):
    """Batch normalization per channel C (axis 1), over the batch and, for images, H and W.

    Training, with μ and σ² the mean and (biased, 1/m) variance over the m values per channel:
    x̂ = (x − μ) / √(σ² + eps),  y = γ x̂ + β,  and the running statistics follow
    running = momentum · running + (1 − momentum) · batch  (Keras's convention).
    Evaluation uses the running mean and variance instead of μ and σ².

    Backward in training, with g = dE/dy and means over the same m values:
    dγ = Σ g x̂,  dβ = Σ g,  dx = γ / √(σ² + eps) · (g − mean(g) − x̂ · mean(g x̂)).
    In evaluation the statistics are constants: dx = γ g / √(running_var + eps).

    A training step keeps x − μ (not x̂), folds 1/√(σ² + eps) and γ into per-channel
    factors, and walks the (N, C, H·W) arrays in chunks of samples that stay in the caches
    between the operations on them: x is read twice, g and x − μ twice, y and dx written once.
    """

    conformance = Conformance(
        cases=(
            {"config": {}, "input_shape": (3,)},
            {"config": {}, "input_shape": (2, 3, 3)},
            {"config": {"momentum": 0.5, "eps": 1e-3}, "input_shape": (4,)},
        )
    )

    def __init__(self, momentum: float = 0.9, eps: float = 1e-5) -> None:
        self.momentum = number("batch_norm momentum", momentum)
        self.eps = number("batch_norm eps", eps)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"batch_norm momentum must be in [0, 1], got {momentum!r}")
        if not self.eps > 0.0:
            raise ValueError(f"batch_norm eps must be positive, got {eps!r}")
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.buffers: dict[str, Array] = {}

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        if len(input_shape) not in (1, 3):
            raise ValueError(
                f"batch_norm takes inputs of shape (features,) or (channels, height, width) per "
                f"sample, got {tuple(input_shape)}; flatten or reshape the input first"
            )
        channels = int(input_shape[0])
        self.stat_shape = (1, channels) if len(input_shape) == 1 else (1, channels, 1, 1)
        self.params = {"gamma": np.ones(channels, dtype=dtype), "beta": np.zeros(channels, dtype)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(channels, dtype=dtype),
            "running_var": np.ones(channels, dtype=dtype),
        }
        return input_shape

    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.training = training
        x3 = _rows(x)
        self.kernels = kernels = _compiled(x3)
        y, chunks = np.empty_like(x3), _chunks(x3)
        if training:
            count = x3.shape[0] * x3.shape[2]  # m, the values per channel
            mean = (_channel_sums(x3) if kernels is None else kernels.channel_sums(x3)) / count
            self.shift = shift = np.asarray(mean, x.dtype)  # μ, rounded to x's dtype
            if kernels is None:
                # x − shift in a buffer kept from step to step (backward reads it): on a conv
                # net's (N, C, H, W) activations every fresh temporary costs its page faults
                self.centred = centred = self._scratch("centred", x3)
                shift_by = _factor(shift, x3)
                squares = np.zeros(x3.shape[1])
                for part in chunks:
                    np.subtract(x3[part], shift_by, out=centred[part])
                    squares += _channel_sums(centred[part], centred[part])
            else:  # one pass, x − shift recomputed where it is needed: backward keeps x
                self.x = x3
                squares = kernels.centred_squares(x3, shift)
            # x − μ = centred − residual: the rounding of μ, known in float64, is folded into
            # the per-channel terms instead of shifting x̂ and dγ by up to half an ulp of μ / σ
            self.residual = mean - shift
            var = np.maximum(squares / count - self.residual**2, 0.0)  # two-pass: stable
            self._update_running(mean, var)
            self.inv_std = 1.0 / np.sqrt(var + self.eps)
            scale = self.params["gamma"] * self.inv_std  # γ / √(σ² + eps), in float64
            offset = self.params["beta"] - self.residual * scale
            if kernels is not None:
                kernels.shift_scale(x3, shift, *_in_dtype(x3, scale, offset), y)
                return y.reshape(x.shape)
            scale_by, offset_by = _factor(scale, x3), _factor(offset, x3)
            for part in chunks:  # y = (x − μ) · scale + β
                np.multiply(centred[part], scale_by, out=y[part])
                y[part] += offset_by
        else:
            self.x = x3  # backward's dγ needs x − running_mean; evaluation keeps no buffer
            self.residual = np.zeros(x3.shape[1])
            self.inv_std = 1.0 / np.sqrt(self.buffers["running_var"].astype(np.float64) + self.eps)
            scale = self.params["gamma"] * self.inv_std
            if kernels is not None:
                shift, factors = _in_dtype(x3, self.buffers["running_mean"], scale)
                kernels.shift_scale(x3, shift, factors, _in_dtype(x3, self.params["beta"])[0], y)
                return y.reshape(x.shape)
            scale_by = _factor(scale, x3)
            running_mean, offset_by = (
                _factor(self.buffers["running_mean"], x3),
                _factor(self.params["beta"], x3),
            )
            for part in chunks:
                np.subtract(x3[part], running_mean, out=y[part])
                y[part] *= scale_by
                y[part] += offset_by
        return y.reshape(x.shape)

    def _scratch(self, name: str, like: Array) -> Array:
        """A buffer of ``like``'s shape and dtype, reused while they stay the same. Its
        contents live until the next training forward, which is after this step's backward."""
        buffer: Array | None = getattr(self, f"_{name}", None)
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = np.empty_like(like)
            setattr(self, f"_{name}", buffer)
        return buffer

    def _update_running(self, mean: Array, var: Array) -> None:
        """running = momentum · running + (1 − momentum) · batch, in place (the saved arrays)."""
        for key, batch in (("running_mean", mean), ("running_var", var)):
            running = self.buffers[key]
            running *= self.momentum
            running += (1.0 - self.momentum) * batch

    def backward(self, grad: Array) -> Array:
        """dβ = Σ g and dγ = Σ g (x − μ) / √(σ² + eps). With s = γ / √(σ² + eps), and as
        mean(γg) = γ·dβ/m and mean(γg x̂) = γ·dγ/m:
        dx = s·g − (s·dγ / (m·√(σ² + eps)))·(x − μ) − s·dβ/m, three per-channel factors."""
        g3 = _rows(grad)
        kernels = self.kernels  # those of the forward, whose state backward reads
        if kernels is not None:
            g3 = np.ascontiguousarray(g3)
            shift = self.shift if self.training else _in_dtype(g3, self.buffers["running_mean"])[0]
            dbeta, dot = kernels.shifted_dot(g3, self.x, shift)
        else:
            chunks = _chunks(g3)
            product = self._scratch("product", g3[chunks[0]])  # one chunk's worth
            running_mean = _factor(self.buffers["running_mean"], g3)
            dbeta, dot = np.zeros(g3.shape[1]), np.zeros(g3.shape[1])
            for part in chunks:
                if self.training:
                    centred = self.centred[part]
                else:
                    centred = np.subtract(self.x[part], running_mean, out=product[: len(g3[part])])
                dbeta += _channel_sums(g3[part])
                dot += _channel_sums(g3[part], centred)
        dgamma = (dot - self.residual * dbeta) * self.inv_std
        self.grads["beta"][...] = dbeta
        self.grads["gamma"][...] = dgamma
        scale = self.params["gamma"] * self.inv_std  # s, in float64
        if not self.training:
            return np.multiply(g3, _factor(scale, g3)).reshape(grad.shape)
        dx = np.empty_like(g3)
        count = g3.shape[0] * g3.shape[2]  # m
        by_x = scale * self.inv_std * dgamma / -count  # times x − μ = centred − residual
        values = (scale, by_x, scale * dbeta / -count - by_x * self.residual)
        if kernels is not None:
            kernels.batch_norm_dx(g3, self.x, self.shift, *_in_dtype(g3, *values), dx)
            return dx.reshape(grad.shape)
        factors = [_factor(v, g3) for v in values]
        for part in chunks:
            out = np.multiply(g3[part], factors[0], out=dx[part])
            # into the chunk buffer: centred stays intact for a second backward of one forward
            out += np.multiply(self.centred[part], factors[1], out=product[: len(out)])
            out += factors[2]
        return dx.reshape(grad.shape)


def _compiled(x3: Array) -> Any:
    """The compiled kernels (:mod:`plugnet_builtins.jit`) for an (N, C, L) batch of images,
    or None for the NumPy code: dense inputs (L = 1) gain nothing from them."""
    return None if x3.shape[2] == 1 else jit.for_array(x3)


def _in_dtype(like: Array, *values: Array) -> list[Array]:
    """Per-channel values (C,) as contiguous arrays of ``like``'s dtype, for the kernels."""
    return [np.ascontiguousarray(v, like.dtype) for v in values]


def _rows(a: Array) -> Array:
    """(N, C) or (N, C, H, W) as (N, C, L), L = H·W or 1: a view of a contiguous array."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _chunks(a3: Array) -> list[slice]:
    """Slices of a3's first axis: chunks of samples (:mod:`plugnet_builtins._chunks`)."""
    return chunking.sample_chunks(len(a3), a3[0].nbytes if len(a3) else 0)


def _factor(values: Array, like: Array) -> Array:
    """Per-channel values (C,) in ``like``'s dtype, to broadcast against (n, C, L) chunks:
    repeated L times into (1, C, L) when one sample is at most ``CHUNK_BYTES``, so that
    NumPy's inner loop runs over whole samples, not over rows of L values with the overhead
    of a call each; else (1, C, 1)."""
    column = np.asarray(values, like.dtype)
    length = like.shape[2]
    if length > 1 and like[0].nbytes <= chunking.CHUNK_BYTES:
        return np.repeat(column, length).reshape(1, -1, length)
    return column.reshape(1, -1, 1)


# Values per (n, c) row that einsum sums in float32 before the float64 total: longer rows
# lose digits (2e-6 relative on dγ at 10⁶ values per row in blocks of 4096; 4e-7 in 1024s).
_ROW_BLOCK = 1024
# Samples of an (N, C) input that one einsum sums in float32, in order, before the float64
# total: at most 256 terms per float32 sum (the previous code summed all N in float32).
_BATCH_BLOCK = 256


def _channel_sums(a: Array, b: Array | None = None) -> Array:
    """Σ a (or Σ a·b, b of a's shape) over every axis but 1, in float64.

    Each (n, c) row's H·W values are contiguous: einsum sums them in blocks of
    ``_ROW_BLOCK`` in one pass over memory (one call for the whole blocks, one for the rest
    of each row), and the partial sums are added in float64. A reduction over axes
    (0, 2, 3) instead walks the array with strides, more slowly. (N, C) inputs, rows of one
    value, are summed over blocks of ``_BATCH_BLOCK`` samples instead: a float64 sum of all
    N·C values costs as much again as the rest of the step."""
    rows = _rows(a)
    others = None if b is None else _rows(b)
    n, c, length = rows.shape
    total = np.zeros(c, np.float64)
    if length == 1:
        for start in range(0, n, _BATCH_BLOCK):
            block = rows[start : start + _BATCH_BLOCK, :, 0]
            if others is None:
                total += np.einsum("nc->c", block)
            else:
                total += np.einsum("nc,nc->c", block, others[start : start + _BATCH_BLOCK, :, 0])
        return total
    whole = length - length % _ROW_BLOCK  # the rows' whole blocks, then what is left of them
    pieces: list[tuple[slice, tuple[int, ...]]] = []
    pieces += [(slice(0, whole), (n, c, -1, _ROW_BLOCK))] if whole else []
    pieces += [(slice(whole, length), (n, c, length - whole))] if whole < length else []
    for cut, shape in pieces:
        block = rows[:, :, cut].reshape(shape)
        if others is None:
            partial = np.einsum("...l->...", block)
        else:
            partial = np.einsum("...l,...l->...", block, others[:, :, cut].reshape(shape))
        total += partial.reshape(n, c, -1).sum(axis=(0, 2), dtype=np.float64)
    return total


class LayerNorm(Configurable):
    """Layer normalization over the last axis, as torch.nn.LayerNorm(normalized_shape=D).

    For each vector x of the last axis' D values, with μ and σ² its mean and biased (1/D)
    variance: x̂ = (x − μ) / √(σ² + eps),  y = γ x̂ + β,  with γ (weight, ones) and β (bias,
    zeros) of shape (D,); without ``elementwise_affine``, y = x̂ and there are no parameters.
    The statistics are the sample's own, so training and evaluation compute the same.

    Backward, with g = dE/dy, ĝ = γ g = dE/dx̂ and means over the same D values:
    dγ = Σ g x̂,  dβ = Σ g  (sums over every axis but the last),
    dx = (ĝ − mean(ĝ) − x̂ · mean(ĝ x̂)) / √(σ² + eps).
    """

    conformance = Conformance(
        cases=(
            {"config": {}, "input_shape": (5,)},
            {"config": {"eps": 1e-3}, "input_shape": (3, 4)},
            {"config": {"elementwise_affine": False}, "input_shape": (2, 6)},
        )
    )

    def __init__(self, eps: float = 1e-5, elementwise_affine: bool = True) -> None:
        self.eps = number("layer_norm eps", eps)
        if not self.eps > 0.0:
            raise ValueError(f"layer_norm eps must be positive, got {eps!r}")
        if not isinstance(elementwise_affine, bool):
            raise ValueError(
                f"layer_norm elementwise_affine must be true or false, got {elementwise_affine!r}"
            )
        self.elementwise_affine = elementwise_affine
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        if len(input_shape) == 0:
            raise ValueError("layer_norm takes inputs with at least one axis per sample, got ()")
        if self.elementwise_affine:
            size = int(input_shape[-1])
            self.params = {"gamma": np.ones(size, dtype=dtype), "beta": np.zeros(size, dtype)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        return input_shape

    def forward(self, x: Array, *, training: bool = False) -> Array:
        centred = x - x.mean(axis=-1, keepdims=True)
        var = np.mean(np.square(centred), axis=-1, keepdims=True)  # two-pass: stable
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = centred * self.inv_std
        if not self.elementwise_affine:
            return self.x_hat
        return self.x_hat * self.params["gamma"] + self.params["beta"]

    def backward(self, grad: Array) -> Array:
        g = grad  # dE/dx̂
        if self.elementwise_affine:
            axes = tuple(range(grad.ndim - 1))
            np.sum(grad * self.x_hat, axis=axes, out=self.grads["gamma"])
            np.sum(grad, axis=axes, out=self.grads["beta"])
            g = grad * self.params["gamma"]
        g_mean = g.mean(axis=-1, keepdims=True)
        gx_mean = np.mean(g * self.x_hat, axis=-1, keepdims=True)
        return self.inv_std * (g - g_mean - self.x_hat * gx_mean)


@hookimpl
def register_layers(register: Register) -> None:
    register(BatchNorm, name="batch_norm", aliases=("batch_normalization",))
    register(LayerNorm, name="layer_norm", aliases=("layer_normalization",))


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------


# ONNX's ``epsilon`` attributes are 32-bit floats: a float64 model's eps would be rounded by
# about 1e-8 of itself, which moves the output of a channel whose variance is near zero by
# up to ~1e-7. So float64 models get the normalization composed, as the forward computes it,
# with eps in float64; float32 models get the single operator.


def _normalize(graph: OnnxGraph, centred: str, var: str, eps: float) -> str:
    """x̂ = (x − μ) · 1/√(σ² + eps), the forward's order of operations."""
    std = graph.node("Sqrt", [graph.node("Add", [var, graph.constant(eps, "eps")])], hint="std")
    return str(graph.node("Mul", [centred, graph.node("Reciprocal", [std])], hint="x_hat"))


def _affine(graph: OnnxGraph, x_hat: str, gamma: Array, beta: Array) -> str:
    scaled = graph.node("Mul", [x_hat, graph.constant(gamma, "gamma")], hint="scaled")
    return str(graph.node("Add", [scaled, graph.constant(beta, "beta")], hint="y"))


def lower_batch_norm(layer: BatchNorm, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """Inference with the running statistics: ONNX BatchNormalization, which normalizes axis 1
    of (N, C) and (N, C, H, W) alike, as plugnet does; composed in float64 (above)."""
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    mean, var = layer.buffers["running_mean"], layer.buffers["running_var"]
    if graph.dtype == np.float64:
        per_channel = (-1, *(1 for _ in graph.shape(inputs[0])[1:]))
        mean, var, gamma, beta = (a.reshape(per_channel) for a in (mean, var, gamma, beta))
        centred = graph.node("Sub", [inputs[0], graph.constant(mean, "running_mean")])
        x_hat = _normalize(graph, centred, graph.constant(var, "running_var"), layer.eps)
        return _affine(graph, x_hat, gamma, beta)
    operands = [inputs[0], *(graph.constant(a, k) for a, k in ((gamma, "gamma"), (beta, "beta")))]
    operands += [graph.constant(mean, "running_mean"), graph.constant(var, "running_var")]
    return str(graph.node("BatchNormalization", operands, hint="y", epsilon=layer.eps))


def lower_layer_norm(layer: LayerNorm, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """ONNX LayerNormalization (opset 17) over the last axis, its scale ones and its bias
    zeros without ``elementwise_affine``; in float64 the forward's two-pass form composed."""
    if layer.elementwise_affine:
        gamma, beta = layer.params["gamma"], layer.params["beta"]
    else:
        size = graph.shape(inputs[0])[-1]
        gamma, beta = np.ones(size, graph.dtype), np.zeros(size, graph.dtype)
    if graph.dtype == np.float64:
        x = inputs[0]
        mean = graph.node("ReduceMean", [x], hint="mean", axes=[-1], keepdims=1)
        centred = graph.node("Sub", [x, mean], hint="centred")
        square = graph.node("Mul", [centred, centred], hint="square")
        var = graph.node("ReduceMean", [square], hint="var", axes=[-1], keepdims=1)
        x_hat = _normalize(graph, centred, var, layer.eps)
        return x_hat if not layer.elementwise_affine else _affine(graph, x_hat, gamma, beta)
    operands = [inputs[0], graph.constant(gamma, "gamma"), graph.constant(beta, "beta")]
    return str(graph.node("LayerNormalization", operands, hint="y", axis=-1, epsilon=layer.eps))


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    register(lower_batch_norm, "plugnet:batch_norm")
    register(lower_layer_norm, "plugnet:layer_norm")
