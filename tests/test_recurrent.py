"""simple_rnn, gru and lstm: forward and backward against a NumPy transcription of PyTorch's
torch.nn.RNN, GRU and LSTM (batch_first=True, one layer), finite differences, shapes,
arguments and a small fit on digits read row by row.

The reference formulas are those of PyTorch's documentation pages
https://pytorch.org/docs/stable/generated/torch.nn.RNN.html, ``…/torch.nn.GRU.html`` and
``…/torch.nn.LSTM.html``, written step by step with a plain sigmoid and explicit gates; their
backward accumulates every parameter gradient step by step, unlike the layers' (one product
over all steps), and the finite-difference tests prove both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.testing.gradients import check_layer_gradients
from plugnet_builtins.recurrent import GRU, LSTM, SimpleRNN

F64 = np.dtype(np.float64)
KEYS = ("w_ih", "w_hh", "b_ih", "b_hh")
Params = dict[str, np.ndarray]


def sigmoid(u: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-u))


def reference_rnn(
    x: np.ndarray, p: Params, g: np.ndarray, relu: bool = False
) -> tuple[np.ndarray, np.ndarray, Params]:
    """torch.nn.RNN: h_t = act(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh); returns all h_t
    (N, T, H), dE/dx and the parameter gradients for dE/dh_t = g (N, T, H)."""
    n, steps, _ = x.shape
    h = np.zeros((n, p["w_hh"].shape[1]))
    hs, us = [h], []
    for t in range(steps):
        u = x[:, t] @ p["w_ih"].T + p["b_ih"] + h @ p["w_hh"].T + p["b_hh"]
        h = np.maximum(u, 0.0) if relu else np.tanh(u)
        us.append(u)
        hs.append(h)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dx = np.zeros_like(x)
    dh_next = np.zeros_like(h)
    for t in reversed(range(steps)):
        dh = g[:, t] + dh_next
        du = dh * ((us[t] > 0) if relu else (1.0 - hs[t + 1] ** 2))
        grads["w_ih"] += du.T @ x[:, t]
        grads["w_hh"] += du.T @ hs[t]
        grads["b_ih"] += du.sum(0)
        grads["b_hh"] += du.sum(0)
        dx[:, t] = du @ p["w_ih"]
        dh_next = du @ p["w_hh"]
    return np.stack(hs[1:], axis=1), dx, grads


def reference_gru(x: np.ndarray, p: Params, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, Params]:
    """torch.nn.GRU: r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h."""
    n_, steps, _ = x.shape
    units = p["w_hh"].shape[1]
    w_ir, w_iz, w_in = np.split(p["w_ih"], 3)
    w_hr, w_hz, w_hn = np.split(p["w_hh"], 3)
    b_ir, b_iz, b_in = np.split(p["b_ih"], 3)
    b_hr, b_hz, b_hn = np.split(p["b_hh"], 3)
    h = np.zeros((n_, units))
    tape = []
    hs = []
    for t in range(steps):
        xt = x[:, t]
        r = sigmoid(xt @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
        z = sigmoid(xt @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
        q = h @ w_hn.T + b_hn
        n = np.tanh(xt @ w_in.T + b_in + r * q)
        tape.append((h, r, z, q, n))
        h = (1 - z) * n + z * h
        hs.append(h)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dx = np.zeros_like(x)
    dh_next = np.zeros((n_, units))
    for t in reversed(range(steps)):
        h_prev, r, z, q, n = tape[t]
        dh = g[:, t] + dh_next
        d_n = dh * (1 - z) * (1 - n**2)  # at n's pre-activation
        d_z = dh * (h_prev - n) * z * (1 - z)
        d_q = d_n * r
        d_r = d_n * q * r * (1 - r)
        xt = x[:, t]
        for gate, (d_input, d_hidden) in enumerate([(d_r, d_r), (d_z, d_z), (d_n, d_q)]):
            rows = slice(gate * units, (gate + 1) * units)
            grads["w_ih"][rows] += d_input.T @ xt
            grads["b_ih"][rows] += d_input.sum(0)
            grads["w_hh"][rows] += d_hidden.T @ h_prev
            grads["b_hh"][rows] += d_hidden.sum(0)
        dx[:, t] = d_r @ w_ir + d_z @ w_iz + d_n @ w_in
        dh_next = dh * z + d_r @ w_hr + d_z @ w_hz + d_q @ w_hn
    return np.stack(hs, axis=1), dx, grads


def reference_lstm(
    x: np.ndarray, p: Params, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Params]:
    """torch.nn.LSTM: i, f, o = σ(·), g = tanh(·) of W_i* x + b_i* + W_h* h + b_h*;
    c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c')."""
    n_, steps, _ = x.shape
    units = p["w_hh"].shape[1]
    h = np.zeros((n_, units))
    c = np.zeros((n_, units))
    tape = []
    hs = []
    for t in range(steps):
        a = x[:, t] @ p["w_ih"].T + p["b_ih"] + h @ p["w_hh"].T + p["b_hh"]
        ai, af, ag, ao = np.split(a, 4, axis=1)
        i, f, gg, o = sigmoid(ai), sigmoid(af), np.tanh(ag), sigmoid(ao)
        c_new = f * c + i * gg
        tape.append((h, c, i, f, gg, o, c_new))
        c = c_new
        h = o * np.tanh(c)
        hs.append(h)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dx = np.zeros_like(x)
    dh_next = np.zeros((n_, units))
    dc_next = np.zeros((n_, units))
    for t in reversed(range(steps)):
        h_prev, c_prev, i, f, gg, o, c_new = tape[t]
        dh = g[:, t] + dh_next
        tc = np.tanh(c_new)
        dc = dc_next + dh * o * (1 - tc**2)
        da = np.concatenate(
            [
                dc * gg * i * (1 - i),
                dc * c_prev * f * (1 - f),
                dc * i * (1 - gg**2),
                dh * tc * o * (1 - o),
            ],
            axis=1,
        )
        grads["w_ih"] += da.T @ x[:, t]
        grads["w_hh"] += da.T @ h_prev
        grads["b_ih"] += da.sum(0)
        grads["b_hh"] += da.sum(0)
        dx[:, t] = da @ p["w_ih"]
        dh_next = da @ p["w_hh"]
        dc_next = dc * f
    return np.stack(hs, axis=1), dx, grads


REFERENCES = {
    "simple_rnn": reference_rnn,
    "gru": reference_gru,
    "lstm": reference_lstm,
    "simple_rnn(activation=relu)": lambda x, p, g: reference_rnn(x, p, g, relu=True),
}


def built(spec: str | dict[str, Any], input_shape: tuple[int, int], dtype: Any = F64) -> Any:
    layer = plugnet.layer(spec)
    layer.build(input_shape, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    return layer


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_forward_and_backward_equal_the_pytorch_formulas(name: str, return_sequences: bool) -> None:
    n, steps, features, units = 4, 6, 3, 5
    kind, _, rest = name.partition("(")
    spec: dict[str, Any] = {"type": kind, "units": units, "return_sequences": return_sequences}
    if rest:
        spec["activation"] = rest.rstrip(")").split("=")[1]
    layer = built(spec, (steps, features))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, steps, features))
    g_all = rng.standard_normal((n, steps, units))
    if not return_sequences:
        g_all[:, :-1] = 0.0  # only the last step's hidden state is the output
    hs, dx_ref, grads_ref = REFERENCES[name](x, layer.params, g_all)
    y = layer.forward(x, training=True)
    expected = hs if return_sequences else hs[:, -1]
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-9)
    dx = layer.backward(g_all if return_sequences else g_all[:, -1])
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-9)
    for key in KEYS:
        np.testing.assert_allclose(layer.grads[key], grads_ref[key], rtol=0, atol=1e-9, err_msg=key)


CASES = [
    (cls, case)
    for cls in (SimpleRNN, GRU, LSTM)
    for case in cls.conformance.cases  # type: ignore[attr-defined]
]


@pytest.mark.parametrize(
    ("cls", "case"), CASES, ids=lambda c: str(c["config"]) if isinstance(c, dict) else c.__name__
)
@pytest.mark.parametrize("training", [True, False])
def test_gradients_by_finite_differences(cls: type, case: dict[str, Any], training: bool) -> None:
    layer = cls(**case["config"])
    layer.build(case["input_shape"], rng=np.random.default_rng(0), dtype=F64)
    x = np.random.default_rng(3).standard_normal((2, *case["input_shape"]))
    check_layer_gradients(layer, x, training=training)


@pytest.mark.parametrize("cls", [SimpleRNN, GRU, LSTM])
def test_conformance_cases_cover_both_outputs(cls: type) -> None:
    configs = [c["config"] for c in cls.conformance.cases]  # type: ignore[attr-defined]
    assert {bool(c.get("return_sequences", False)) for c in configs} == {False, True}


@pytest.mark.parametrize("kind", ["simple_rnn", "gru", "lstm"])
def test_parameters_have_pytorchs_layout_and_initialization(kind: str) -> None:
    gates = {"simple_rnn": 1, "gru": 3, "lstm": 4}[kind]
    layer = built({"type": kind, "units": 16}, (5, 3))
    shapes = {k: v.shape for k, v in layer.params.items()}
    assert shapes == {
        "w_ih": (gates * 16, 3),
        "w_hh": (gates * 16, 16),
        "b_ih": (gates * 16,),
        "b_hh": (gates * 16,),
    }
    bound = 1 / np.sqrt(16)
    for value in layer.params.values():  # U(−1/√units, 1/√units), spread over the range
        assert value.min() >= -bound and value.max() < bound
        assert value.max() - value.min() > bound
    assert layer.get_config()["initializer"] == {
        "name": "plugnet:uniform",
        "low": -bound,
        "high": bound,
    }
    other = built({"type": kind, "units": 16, "initializer": "zeros"}, (5, 3))
    assert all(not v.any() for v in other.params.values())


@pytest.mark.parametrize("kind", ["simple_rnn", "gru", "lstm"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_skipping_the_input_gradient_keeps_the_parameter_gradients(
    kind: str, return_sequences: bool
) -> None:
    layer = built({"type": kind, "units": 4, "return_sequences": return_sequences}, (5, 3))
    x = np.random.default_rng(2).standard_normal((3, 5, 3))
    g = np.random.default_rng(3).standard_normal(layer.forward(x).shape)
    layer.backward(g)
    full = {k: v.copy() for k, v in layer.grads.items()}
    layer.forward(x)
    assert layer.backward(g, need_input_grad=False) is None
    for key, value in full.items():
        np.testing.assert_array_equal(layer.grads[key], value)


@pytest.mark.parametrize("kind", ["simple_rnn", "gru", "lstm"])
def test_float32_stays_float32(kind: str) -> None:
    layer = built({"type": kind, "units": 4, "return_sequences": True}, (5, 3), np.float32)
    x = np.random.default_rng(2).standard_normal((3, 5, 3)).astype(np.float32)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32 and y.shape == (3, 5, 4) and dx.shape == x.shape
    assert all(v.dtype == np.float32 for v in layer.grads.values())


@pytest.mark.parametrize("kind", ["simple_rnn", "gru", "lstm"])
def test_a_flat_input_is_refused_with_what_to_do(kind: str) -> None:
    layer = plugnet.layer({"type": kind, "units": 4})
    with pytest.raises(ValueError, match=rf"{kind} takes inputs of shape \(steps, features\)"):
        layer.build((64,), rng=np.random.default_rng(0), dtype=F64)
    with pytest.raises(ValueError, match=f"{kind} units must be a positive integer, got 0"):
        plugnet.layer({"type": kind, "units": 0})


def test_the_rnn_activation_is_a_registered_component() -> None:
    layer = plugnet.layer("simple_rnn(units=2, activation='relu')")
    assert layer.get_config()["activation"] == {"name": "plugnet:relu"}
    with pytest.raises(plugnet.UnknownComponentError, match="unknown activation 'nonexistent'"):
        plugnet.layer({"type": "simple_rnn", "units": 2, "activation": "nonexistent"})


@pytest.mark.parametrize(("kind", "least"), [("simple_rnn", 0.9), ("gru", 0.93), ("lstm", 0.93)])
def test_a_small_network_learns_digits_read_row_by_row(kind: str, least: float) -> None:
    """8 steps of 8 pixels; 1200 images to train, 597 held out (seed 0: 95.0, 96.3, 97.3%)."""
    pytest.importorskip("sklearn")
    from plugnet.datasets import digits

    data = digits()
    assert data.t is not None
    x = data.x.reshape(-1, 8, 8).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1200], order[1200:]
    net = plugnet.Sequential(
        [{"type": kind, "units": 32}, {"type": "dense", "units": 10, "activation": "softmax"}],
        error="cross_entropy",
        optimizer="adam(lr=0.01)",
        seed=0,
    )
    net.fit(x[train], data.t[train], epochs=10, batch_size=32, verbose=0)
    accuracy = float(np.mean(net.predict(x[test]).argmax(axis=1) == data.t[test]))
    assert accuracy >= least


@pytest.mark.parametrize("kind", ["simple_rnn", "gru", "lstm"])
def test_a_saved_recurrent_network_loads_and_predicts_identically(kind: str, tmp_path: Any) -> None:
    x = np.random.default_rng(0).standard_normal((12, 5, 3)).astype(np.float32)
    net = plugnet.Sequential(
        [
            {"type": kind, "units": 4, "return_sequences": True},
            {"type": kind, "units": 3},
            {"type": "dense", "units": 2, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer="adam(lr=0.01)",
        seed=0,
    )
    net.fit(x, np.arange(12) % 2, epochs=2, batch_size=4, verbose=0)
    net.save(tmp_path / "rnn.npz")
    loaded = plugnet.load(tmp_path / "rnn.npz")
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert [layer.get_config() for layer in loaded.layers] == [
        layer.get_config() for layer in net.layers
    ]
