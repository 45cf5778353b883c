"""Recurrent layers over batch-first (N, T, F) sequences: simple_rnn, gru and lstm.

Parameters use PyTorch's layout and gate order, so weights copy across from ``torch.nn.RNN``,
``GRU`` and ``LSTM`` (one layer, ``batch_first=True``): ``w_ih`` (G·units, F), ``w_hh``
(G·units, units), ``b_ih`` and ``b_hh`` (G·units,), with G = 1, 3 (r, z, n) and 4 (i, f, g, o).
The initial hidden (and cell) state is zero. Backward is backpropagation through time: one loop
over the steps in reverse, then the parameter gradients as single matrix products over all steps.

Inside, arrays are time-major, (T, N, ·), so that each step's slice is contiguous, and the
input projection x W_ihᵀ of all steps is one matrix product before the time loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet import nested
from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape
from plugnet_builtins import jit
from plugnet_builtins.initializers import Uniform
from plugnet_builtins.layers import (
    ActivationSpec,
    InitializerSpec,
    _positive_int,
    initializer_or_default,
)

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph


def sequence_shape(input_shape: Shape, layer: str) -> tuple[int, int]:
    """(T, F) from a per-sample shape, or a ValueError that says what was expected."""
    if len(input_shape) != 2:
        raise ValueError(
            f"{layer} takes inputs of shape (steps, features) per sample (batch-first N, T, F), "
            f"got {tuple(input_shape)}; reshape flat inputs first, e.g. a reshape layer with "
            f"shape = [8, 8] to read 8×8 images row by row"
        )
    steps, features = (int(d) for d in input_shape)
    return steps, features


def gate_activations(a: Array, scale: Array, shift: Array) -> Array:
    """σ or tanh of each gate's pre-activation, in place, with one tanh over all gates.

    σ(u) = ½ + ½·tanh(u/2): the weights were scaled by ``scale`` (½ for σ gates, 1 for tanh
    gates, exact in binary floating point), so ``a`` holds u·scale and the result is
    tanh(a)·scale + shift with shift = 1 − scale. It never overflows, unlike 1 / (1 + e^−u).
    """
    np.tanh(a, out=a)
    a *= scale
    a += shift
    return a


class _Recurrent(Configurable):
    """What the three layers share: arguments, parameters, shapes and gradient assembly."""

    gates = 1
    layer_name = "recurrent"
    conformance = Conformance(
        cases=(
            {"config": {"units": 3}, "input_shape": (4, 2)},
            {"config": {"units": 2, "return_sequences": True}, "input_shape": (3, 3)},
        )
    )
    skips_input_grad = True  # backward(grad, *, need_input_grad): see SkipsInputGrad
    hs: Array  # hidden states h_0 … h_T of the last forward, (T+1, N, units)
    xt: Array  # its input, time-major and flattened, (T·N, F)

    def __init__(
        self, units: int, return_sequences: bool = False, initializer: InitializerSpec = None
    ) -> None:
        self.component_specs: dict[str, dict[str, Any]] = {}
        self.units = _positive_int(units, f"{self.layer_name} units")
        self.return_sequences = bool(return_sequences)
        bound = 1.0 / math.sqrt(self.units)  # PyTorch's default: U(−1/√units, 1/√units)
        self.initializer: Any = initializer_or_default(
            self, initializer, lambda: (Uniform(-bound, bound), "uniform")
        )
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def get_config(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "return_sequences": self.return_sequences,
            "initializer": nested.spec(self, "initializer", self.initializer),
        }

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        steps, features = sequence_shape(input_shape, self.layer_name)
        rows = self.gates * self.units
        shapes = {
            "w_ih": (rows, features),
            "w_hh": (rows, self.units),
            "b_ih": (rows,),
            "b_hh": (rows,),
        }
        self.params = {
            key: self.initializer(shape, rng=rng, dtype=dtype) for key, shape in shapes.items()
        }
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        return (steps, self.units) if self.return_sequences else (self.units,)

    def _project(self, x: Array, scale: Array | None, bias: Array) -> Array:
        """(T, N, G·units): x_t (W_ih·scale)ᵀ + bias for every step, as one matrix product."""
        n, steps, features = x.shape
        self.xt = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(steps * n, features)
        w = self.params["w_ih"] if scale is None else self.params["w_ih"] * scale[:, None]
        xw = self.xt @ w.T
        xw += bias
        return xw.reshape(steps, n, -1)

    def _output(self, hs: Array) -> Array:
        """The last hidden state (N, units), or all of them (N, T, units), from hs (T+1, N, H)."""
        if self.return_sequences:
            return np.ascontiguousarray(hs[1:].transpose(1, 0, 2))
        return hs[-1].copy()

    def _step_grads(self, grad: Array) -> Array:
        """dE/dh_t from the output alone, time-major (T, N, units)."""
        steps, n = self.hs.shape[0] - 1, self.hs.shape[1]
        if self.return_sequences:
            return np.ascontiguousarray(grad.transpose(1, 0, 2))
        out = np.zeros((steps, n, self.units), dtype=np.result_type(grad, self.hs))
        out[-1] = grad
        return out

    def _finish(self, d_in: Array, d_hh: Array, need_input_grad: bool) -> Array | None:
        """Parameter gradients from the pre-activation gradients of all steps, and dE/dx.

        With dA_t = dE/d(W_ih x_t + b_ih) and dH_t = dE/d(W_hh h_{t−1} + b_hh), both (N, G·H):
        dW_ih = Σ_t dA_tᵀ x_t, db_ih = Σ_t,n dA_t, dW_hh = Σ_t dH_tᵀ h_{t−1}, db_hh = Σ dH_t,
        dx_t = dA_t W_ih — each one matrix product over the stacked (T·N) rows.
        """
        steps, n, rows = d_in.shape
        dA = d_in.reshape(steps * n, rows)
        dH = d_hh.reshape(steps * n, rows)
        np.matmul(dA.T, self.xt, out=self.grads["w_ih"])
        np.matmul(dH.T, self.hs[:-1].reshape(steps * n, self.units), out=self.grads["w_hh"])
        np.sum(dA, axis=0, out=self.grads["b_ih"])
        np.sum(dH, axis=0, out=self.grads["b_hh"])
        if not need_input_grad:
            return None
        dx = (dA @ self.params["w_ih"]).reshape(steps, n, -1)
        return np.ascontiguousarray(dx.transpose(1, 0, 2))


class SimpleRNN(_Recurrent):
    """Elman RNN, as ``torch.nn.RNN``: h_t = f(u_t), u_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh.

    ``activation`` f is tanh by default (PyTorch offers tanh and relu; any registered
    activation works). Backward through time, for t = T … 1 with dh_{T+1}-terms zero:

    dh_t = ∂E/∂h_t (from the output) + du_{t+1} W_hh,   du_t = f'(u_t) ⊙ dh_t,

    then dW_ih = Σ du_tᵀ x_t, dW_hh = Σ du_tᵀ h_{t−1}, db_ih = db_hh = Σ du_t, dx_t = du_t W_ih.
    """

    gates = 1
    layer_name = "simple_rnn"
    conformance = Conformance(
        cases=(
            *_Recurrent.conformance.cases,
            {
                "config": {"units": 3, "activation": "relu", "return_sequences": True},
                "input_shape": (3, 2),
            },
        )
    )

    def __init__(
        self,
        units: int,
        activation: ActivationSpec = "tanh",
        return_sequences: bool = False,
        initializer: InitializerSpec = None,
    ) -> None:
        super().__init__(units, return_sequences, initializer)
        self.activation = nested.argument(self, "activation", "activation", activation)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": nested.spec(self, "activation", self.activation),
        }

    def forward(self, x: Array, *, training: bool = False) -> Array:
        steps, n = x.shape[1], x.shape[0]
        xw = self._project(x, None, self.params["b_ih"] + self.params["b_hh"])
        w_hh_t = self.params["w_hh"].T
        hs = np.zeros((steps + 1, n, self.units), dtype=xw.dtype)
        us = np.empty_like(xw)
        for t in range(steps):
            np.matmul(hs[t], w_hh_t, out=us[t])
            us[t] += xw[t]
            hs[t + 1] = self.activation.forward(us[t])
        self.hs, self.us = hs, us
        return self._output(hs)

    def backward(self, grad: Array, *, need_input_grad: bool = True) -> Array | None:
        dh_out = self._step_grads(grad)
        du = np.empty_like(self.us, dtype=dh_out.dtype)
        w_hh = self.params["w_hh"]
        dh = dh_out[-1]
        for t in range(dh_out.shape[0] - 1, -1, -1):
            if t < dh_out.shape[0] - 1:
                dh = dh_out[t] + du[t + 1] @ w_hh
            du[t] = self.activation.backward(self.us[t], self.hs[t + 1], dh)
        return self._finish(du, du, need_input_grad)


class GRU(_Recurrent):
    """Gated recurrent unit, as ``torch.nn.GRU``, with its gate order r, z, n.

    r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h.

    Backward through time, with dh = ∂E/∂h' from the output plus the carry from the next step,
    and q = W_hn h + b_hn kept from the forward:

    dn̂ = dh ⊙ (1 − z) ⊙ (1 − n²),  dẑ = dh ⊙ (h − n) ⊙ z(1 − z),  dr̂ = dn̂ ⊙ q ⊙ r(1 − r),
    input side dA = [dr̂, dẑ, dn̂];  hidden side dH = [dr̂, dẑ, dn̂ ⊙ r];
    carry dh_prev = dh ⊙ z + dH W_hh.
    """

    gates = 3
    layer_name = "gru"

    def forward(self, x: Array, *, training: bool = False) -> Array:
        n, steps = x.shape[0], x.shape[1]
        h_ = self.units
        p = self.params
        dtype = np.result_type(x, p["w_ih"])
        # σ gates r, z computed as ½ + ½ tanh(u/2): their weights and biases are halved.
        scale = np.array([0.5] * (2 * h_) + [1.0] * h_, dtype=dtype)
        bias = (p["b_ih"] + np.concatenate([p["b_hh"][: 2 * h_], np.zeros(h_, dtype)])) * scale
        xw = self._project(x, scale, bias)
        w_hh_t = (p["w_hh"] * scale[:, None]).T
        b_hn = p["b_hh"][2 * h_ :]
        hs = np.zeros((steps + 1, n, h_), dtype=dtype)
        gates = np.empty((steps, n, 3 * h_), dtype=dtype)  # r, z, n after their activations
        qs = np.empty((steps, n, h_), dtype=dtype)  # q = W_hn h + b_hn
        hh = np.empty((n, 3 * h_), dtype=dtype)
        half = np.asarray(0.5, dtype)
        for t in range(steps):
            g = gates[t]
            np.matmul(hs[t], w_hh_t, out=hh)
            rz = g[:, : 2 * h_]
            np.add(xw[t, :, : 2 * h_], hh[:, : 2 * h_], out=rz)
            gate_activations(rz, half, half)
            np.add(hh[:, 2 * h_ :], b_hn, out=qs[t])
            gn = g[:, 2 * h_ :]
            np.multiply(g[:, :h_], qs[t], out=gn)
            gn += xw[t, :, 2 * h_ :]
            np.tanh(gn, out=gn)
            # h' = n + z ⊙ (h − n)
            np.subtract(hs[t], gn, out=hs[t + 1])
            hs[t + 1] *= g[:, h_ : 2 * h_]
            hs[t + 1] += gn
        self.hs, self.gates_, self.qs = hs, gates, qs
        return self._output(hs)

    def backward(self, grad: Array, *, need_input_grad: bool = True) -> Array | None:
        h_ = self.units
        dh_out = self._step_grads(grad)
        steps = dh_out.shape[0]
        gates, hs, qs = self.gates_, self.hs, self.qs
        r, z, nn = gates[..., :h_], gates[..., h_ : 2 * h_], gates[..., 2 * h_ :]
        d_in = np.empty(gates.shape, dtype=dh_out.dtype)
        d_hh = np.empty_like(d_in)
        w_hh = self.params["w_hh"]
        # Derivative factors of all steps at once: σ' = σ(1 − σ), tanh' = 1 − tanh².
        dr_f = r * (1 - r) * qs
        dz_f = z * (1 - z) * (hs[:-1] - nn)
        dn_f = (1 - z) * (1 - nn * nn)
        dh = dh_out[-1].copy()
        carry = np.empty_like(dh)
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                np.matmul(d_hh[t + 1], w_hh, out=dh)
                dh += dh_out[t]
                dh += carry
            a, b = d_in[t], d_hh[t]
            dn = a[:, 2 * h_ :]
            np.multiply(dh, dn_f[t], out=dn)
            np.multiply(dh, dz_f[t], out=a[:, h_ : 2 * h_])
            np.multiply(dn, dr_f[t], out=a[:, :h_])
            b[:, : 2 * h_] = a[:, : 2 * h_]
            np.multiply(dn, r[t], out=b[:, 2 * h_ :])
            np.multiply(dh, z[t], out=carry)  # the direct path h → h' of this step
        return self._finish(d_in, d_hh, need_input_grad)


class LSTM(_Recurrent):
    """Long short-term memory, as ``torch.nn.LSTM``, with its gate order i, f, g, o.

    [i, f, g, o] = [σ, σ, tanh, σ](W_ih x + b_ih + W_hh h + b_hh),
    c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c').

    Backward through time, with dh = ∂E/∂h' from the output plus dA_{t+1} W_hh, and dc_next
    the cell gradient carried back from the next step:

    dc = dc_next + dh ⊙ o ⊙ (1 − tanh²(c')),
    dA = [dc ⊙ g ⊙ i(1 − i), dc ⊙ c ⊙ f(1 − f), dc ⊙ i ⊙ (1 − g²), dh ⊙ tanh(c') ⊙ o(1 − o)],
    carry dc_next ← dc ⊙ f; input and hidden side share dA (dH = dA).
    """

    gates = 4
    layer_name = "lstm"

    def forward(self, x: Array, *, training: bool = False) -> Array:
        n, steps = x.shape[0], x.shape[1]
        h_ = self.units
        p = self.params
        dtype = np.result_type(x, p["w_ih"])
        # i, f, o as ½ + ½ tanh(u/2) and g as tanh(u): one tanh over all four gates.
        scale = np.array([0.5] * (2 * h_) + [1.0] * h_ + [0.5] * h_, dtype=dtype)
        shift = (1 - scale).astype(dtype)
        xw = self._project(x, scale, (p["b_ih"] + p["b_hh"]) * scale)
        w_hh_t = (p["w_hh"] * scale[:, None]).T
        hs = np.zeros((steps + 1, n, h_), dtype=dtype)
        cs = np.zeros((steps + 1, n, h_), dtype=dtype)
        tcs = np.empty((steps, n, h_), dtype=dtype)  # tanh(c_t)
        gates = np.empty((steps, n, 4 * h_), dtype=dtype)
        ig = np.empty((n, h_), dtype=dtype)
        self.kernels = kernels = jit.for_array(gates)  # the compiled kernels, or None
        for t in range(steps):
            g = gates[t]
            np.matmul(hs[t], w_hh_t, out=g)
            g += xw[t]
            if kernels is not None:  # the gates, c, tanh(c) and h in one pass
                kernels.lstm_cell(g, scale, shift, cs[t], cs[t + 1], tcs[t], hs[t + 1])
                continue
            gate_activations(g, scale, shift)
            np.multiply(g[:, h_ : 2 * h_], cs[t], out=cs[t + 1])
            np.multiply(g[:, :h_], g[:, 2 * h_ : 3 * h_], out=ig)
            cs[t + 1] += ig
            np.tanh(cs[t + 1], out=tcs[t])
            np.multiply(g[:, 3 * h_ :], tcs[t], out=hs[t + 1])
        self.hs, self.cs, self.tcs, self.gates_ = hs, cs, tcs, gates
        return self._output(hs)

    def backward(self, grad: Array, *, need_input_grad: bool = True) -> Array | None:
        h_ = self.units
        dh_out = self._step_grads(grad)
        steps = dh_out.shape[0]
        gates = self.gates_
        if self.kernels is not None:
            return self._backward_compiled(self.kernels, dh_out, need_input_grad)
        i, f, g, o = (gates[..., k * h_ : (k + 1) * h_] for k in range(4))
        # Each gate's local factor, for all steps at once: what multiplies dc (i, f, g) or dh (o).
        factors = np.empty(gates.shape, dtype=dh_out.dtype)
        np.multiply(g * i, 1 - i, out=factors[..., :h_])
        np.multiply(self.cs[:-1] * f, 1 - f, out=factors[..., h_ : 2 * h_])
        np.multiply(i, 1 - g * g, out=factors[..., 2 * h_ : 3 * h_])
        np.multiply(self.tcs * o, 1 - o, out=factors[..., 3 * h_ :])
        dc_from_h = o * (1 - self.tcs * self.tcs)  # ∂c'-gradient per unit dh
        d_in = np.empty(gates.shape, dtype=dh_out.dtype)
        w_hh = self.params["w_hh"]
        dh = dh_out[-1].copy()
        dc = np.zeros_like(dh)
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                np.matmul(d_in[t + 1], w_hh, out=dh)
                dh += dh_out[t]
                dc *= f[t + 1]  # dc_next = dc_{t+1} ⊙ f_{t+1}
            dc += dh * dc_from_h[t]
            a = d_in[t]
            for k in range(3):
                np.multiply(
                    dc, factors[t, :, k * h_ : (k + 1) * h_], out=a[:, k * h_ : (k + 1) * h_]
                )
            np.multiply(dh, factors[t, :, 3 * h_ :], out=a[:, 3 * h_ :])
        return self._finish(d_in, d_in, need_input_grad)

    def _backward_compiled(
        self, kernels: ModuleType, dh_out: Array, need_input_grad: bool
    ) -> Array | None:
        """The loop of :meth:`backward`, one compiled kernel per step for the gate products."""
        h_, gates, steps = self.units, self.gates_, dh_out.shape[0]
        d_in = np.empty(gates.shape, dtype=dh_out.dtype)
        w_hh = self.params["w_hh"]
        dh = np.zeros_like(dh_out[0])  # the part of dE/dh_t from step t + 1
        dc = np.zeros_like(dh)
        for t in range(steps - 1, -1, -1):
            has_next = t < steps - 1
            if has_next:
                np.matmul(d_in[t + 1], w_hh, out=dh)
            f_next = gates[t + 1 if has_next else t, :, h_ : 2 * h_]
            kernels.lstm_cell_backward(
                dh, dh_out[t], dc, f_next, has_next, gates[t], self.cs[t], self.tcs[t], d_in[t]
            )
        return self._finish(d_in, d_in, need_input_grad)


@hookimpl
def register_layers(register: Register) -> None:
    register(SimpleRNN, name="simple_rnn", aliases=("rnn",))
    register(GRU, name="gru")
    register(LSTM, name="lstm")


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------
#
# Unrolled over the steps (the per-sample shape fixes T) from MatMul, Add, Mul, Sigmoid and
# Tanh, rather than ONNX's RNN, GRU and LSTM operators: ONNX Runtime's CPU kernels for those
# run float32 only, and the composition also takes simple_rnn's activation, whatever it is,
# through its own lowering (docs/decisions.md).


def _steps(layer: _Recurrent, graph: OnnxGraph, x: str, bias: Array) -> list[str]:
    """x_t W_ihᵀ + bias for each step t, each (N, G·units), from one MatMul over (N, T, F)
    split along T."""
    steps = graph.shape(x)[0]
    projected = graph.node("MatMul", [x, graph.constant(layer.params["w_ih"].T, "w_ih_t")])
    xw = graph.node("Add", [projected, graph.constant(bias, "bias")], hint="xw")
    split = graph.node("Split", [xw], hint="xw_step", outputs=steps, axis=1)
    axis = graph.constant(np.array([1]), "time_axis")
    return [
        graph.node("Squeeze", [step, axis], hint="xw_t")
        for step in ([split] if steps == 1 else split)
    ]


def _output(layer: _Recurrent, graph: OnnxGraph, hs: list[str]) -> str:
    """The last hidden state (N, units), or all of them stacked batch-first (N, T, units)."""
    if not layer.return_sequences:
        return hs[-1]
    axis = graph.constant(np.array([1]), "time_axis")
    stacked = [graph.node("Unsqueeze", [h, axis], hint="h_seq") for h in hs]
    return str(graph.node("Concat", stacked, hint="sequence", axis=1))


def lower_simple_rnn(layer: SimpleRNN, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """h_t = f(x_t W_ihᵀ + b_ih + b_hh + h_{t−1} W_hhᵀ), f through its own lowering; h_0 = 0
    drops the first step's recurrent term."""
    p = layer.params
    w_hh_t = graph.constant(p["w_hh"].T, "w_hh_t")
    hs: list[str] = []
    for t, xw in enumerate(_steps(layer, graph, inputs[0], p["b_ih"] + p["b_hh"])):
        u = xw if t == 0 else graph.node("Add", [graph.node("MatMul", [hs[-1], w_hh_t]), xw])
        hs.append(graph.lower(layer.activation, [u]))
    return _output(layer, graph, hs)


def lower_gru(layer: GRU, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """PyTorch's GRU (gates r, z, n) step by step: r, z = σ(xW + hW + b), q = h W_hnᵀ + b_hn,
    n = tanh(x W_inᵀ + b_in + r ⊙ q), h' = n + z ⊙ (h − n); with h_0 = 0, q = b_hn and
    h_1 = n − z ⊙ n."""
    p, units = layer.params, layer.units
    b_hh = p["b_hh"]
    bias = p["b_ih"] + np.concatenate([b_hh[: 2 * units], np.zeros_like(b_hh[2 * units :])])
    w_hh_t = graph.constant(p["w_hh"].T, "w_hh_t")
    b_hn = graph.constant(b_hh[2 * units :], "b_hn")
    hs: list[str] = []
    for t, xw in enumerate(_steps(layer, graph, inputs[0], bias)):
        x_r, x_z, x_n = graph.node("Split", [xw], hint="x_gate", outputs=3, axis=1)
        if t == 0:
            r_in, z_in, q = x_r, x_z, b_hn
        else:
            hh = graph.node("MatMul", [hs[-1], w_hh_t])
            h_r, h_z, h_n = graph.node("Split", [hh], hint="h_gate", outputs=3, axis=1)
            r_in, z_in = graph.node("Add", [x_r, h_r]), graph.node("Add", [x_z, h_z])
            q = graph.node("Add", [h_n, b_hn], hint="q")
        r = graph.node("Sigmoid", [r_in], hint="r")
        z = graph.node("Sigmoid", [z_in], hint="z")
        n = graph.node("Tanh", [graph.node("Add", [x_n, graph.node("Mul", [r, q])])], hint="n")
        if t == 0:
            hs.append(graph.node("Sub", [n, graph.node("Mul", [z, n])], hint="h"))
        else:
            step = graph.node("Mul", [z, graph.node("Sub", [hs[-1], n])])
            hs.append(graph.node("Add", [n, step], hint="h"))
    return _output(layer, graph, hs)


def lower_lstm(layer: LSTM, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """PyTorch's LSTM (gates i, f, g, o) step by step: [i, f, g, o] = [σ, σ, tanh, σ](xW + hW
    + b), c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c'); with h_0 = c_0 = 0, c_1 = i ⊙ g."""
    p = layer.params
    w_hh_t = graph.constant(p["w_hh"].T, "w_hh_t")
    hs: list[str] = []
    c = ""
    for t, xw in enumerate(_steps(layer, graph, inputs[0], p["b_ih"] + p["b_hh"])):
        a = xw if t == 0 else graph.node("Add", [xw, graph.node("MatMul", [hs[-1], w_hh_t])])
        a_i, a_f, a_g, a_o = graph.node("Split", [a], hint="gate", outputs=4, axis=1)
        ig = graph.node("Mul", [graph.node("Sigmoid", [a_i], hint="i"), graph.node("Tanh", [a_g])])
        if t == 0:
            c = ig
        else:
            f = graph.node("Sigmoid", [a_f], hint="f")
            c = graph.node("Add", [graph.node("Mul", [f, c]), ig], hint="c")
        o = graph.node("Sigmoid", [a_o], hint="o")
        hs.append(graph.node("Mul", [o, graph.node("Tanh", [c])], hint="h"))
    return _output(layer, graph, hs)


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    register(lower_simple_rnn, "plugnet:simple_rnn")
    register(lower_gru, "plugnet:gru")
    register(lower_lstm, "plugnet:lstm")
