"""Sequential: dense gradients, whole-network gradient, the fused path, reproducibility, training,
bad input and the structure API."""

from __future__ import annotations

import numpy as np
import pytest

import plugnet
from plugnet.network import Sequential
from plugnet.testing import assert_close, check_layer_gradients, numerical_gradient

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_T = np.array([0, 1, 1, 0])


def small_net(
    error: str = "cross_entropy", out: str = "softmax", optimizer: str = "sgd", **kw: object
) -> Sequential:
    return Sequential(
        [
            {"type": "dense", "units": 6, "activation": "sigmoid"},
            {"type": "dense", "units": 5, "activation": "relu"},
            {"type": "dense", "units": 3, "activation": out},
        ],
        error=error,
        optimizer=optimizer,
        **kw,  # type: ignore[arg-type]
    )


def built_dense(units: int, inputs: int, activation: str, use_bias: bool = True) -> object:
    layer = plugnet.layer(
        {"type": "dense", "units": units, "activation": activation, "use_bias": use_bias}
    )
    layer.build((inputs,), rng=np.random.default_rng(0), dtype=np.dtype(np.float64))
    if use_bias:
        layer.params["b"][:] = np.random.default_rng(1).standard_normal(units)
    return layer


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "softmax", "relu"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_gradients(activation: str, use_bias: bool) -> None:
    layer = built_dense(4, 3, activation, use_bias)
    x = np.random.default_rng(3).standard_normal((5, 3))
    check_layer_gradients(layer, x)  # type: ignore[arg-type]


def test_dense_backward_is_the_seed_formulas() -> None:
    layer = built_dense(3, 4, "identity")
    x = np.random.default_rng(0).standard_normal((6, 4))
    delta = np.random.default_rng(1).standard_normal((6, 3))
    layer.forward(x)  # type: ignore[attr-defined]
    dx = layer.backward(delta)  # type: ignore[attr-defined]
    np.testing.assert_allclose(layer.grads["w"], x.T @ delta)  # type: ignore[attr-defined]
    np.testing.assert_allclose(layer.grads["b"], delta.sum(axis=0))  # type: ignore[attr-defined]
    np.testing.assert_allclose(dx, delta @ layer.params["w"].T)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("error", "out"), [("cross_entropy", "softmax"), ("square", "sigmoid")])
def test_one_sgd_step_moves_parameters_by_minus_the_numerical_gradient(
    error: str, out: str
) -> None:
    """With lr=1, a plain SGD step changes each parameter by −dE/dθ of evaluate()'s loss."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 4))
    t = np.eye(3)[rng.integers(0, 3, 7)]
    net = small_net(error, out, optimizer="sgd(lr=1.0)", seed=1, dtype="float64")
    net.build((4,))
    before = {k: v.copy() for k, v in net.params.items()}
    numeric = {
        name: numerical_gradient(lambda _: net.evaluate(x, t)["loss"], param, in_place=True)
        for name, param in net.params.items()
    }
    net.fit(x, t, epochs=1, batch_size=7, shuffle=False, verbose=0)
    for name, param in net.params.items():
        assert_close(
            param - before[name], -numeric[name], what=f"step of {name}", rtol=1e-5, atol=1e-9
        )


def test_the_output_layer_takes_the_registered_fused_backward() -> None:
    net = small_net(seed=0)
    net.build((4,))
    assert type(net._fused).__name__ == "SoftmaxCrossEntropy"
    unpaired = small_net("square", "softmax", seed=0)
    unpaired.build((4,))
    assert unpaired._fused is None
    chained = small_net("square", "sigmoid", seed=0)
    chained.build((4,))
    assert chained._fused is None


def test_fused_and_chained_output_gradients_agree() -> None:
    x = np.random.default_rng(0).standard_normal((8, 4))
    t = np.eye(3)[np.random.default_rng(1).integers(0, 3, 8)]
    fused = small_net(seed=3, dtype="float64")
    fused.build((4,))
    y = fused.forward(x, training=True)
    fused.backward(y, t)
    fused_grads = {k: v.copy() for k, v in fused.grads.items()}
    fused._output_linear = None  # force the chain error.backward → softmax VJP
    fused.forward(x, training=True)
    fused.backward(y, t)
    for name, grad in fused.grads.items():
        assert_close(grad, fused_grads[name], what=name, rtol=1e-9, atol=1e-12)


def test_same_seed_same_run_and_different_seed_different_run() -> None:
    x, t = (
        np.random.default_rng(0).standard_normal((40, 4)),
        np.random.default_rng(1).integers(0, 3, 40),
    )
    runs = []
    for seed in (7, 7, 8):
        net = small_net(optimizer="adam", seed=seed)
        net.fit(x, t, epochs=3, batch_size=8, verbose=0)
        runs.append(np.concatenate([p.ravel() for p in net.params.values()]))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_xor_reaches_full_accuracy() -> None:
    net = Sequential(
        [
            {"type": "dense", "units": 8, "activation": "relu"},
            {"type": "dense", "units": 2, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer="adam(lr=0.05)",
        seed=0,
    )
    history = net.fit(XOR_X, XOR_T, epochs=200, batch_size=4, verbose=0)
    assert net.evaluate(XOR_X, XOR_T)["accuracy"] == 1.0
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.array_equal(net.predict(XOR_X).argmax(axis=1), XOR_T)


def test_float32_stays_float32_through_training() -> None:
    net = small_net(optimizer="adam", seed=0)
    net.fit(
        np.random.default_rng(0).standard_normal((16, 4)),
        np.zeros(16, dtype=int),
        epochs=1,
        verbose=0,
    )
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert net.predict(np.ones((2, 4))).dtype == np.float32


def test_labels_and_one_hot_targets_evaluate_alike() -> None:
    net = small_net(seed=0)
    x = np.random.default_rng(0).standard_normal((10, 4))
    labels = np.random.default_rng(1).integers(0, 3, 10)
    assert net.evaluate(x, labels) == net.evaluate(x, np.eye(3)[labels])
    assert set(net.evaluate(x, labels)) == {"loss", "accuracy"}


def test_regression_reports_no_accuracy() -> None:
    net = Sequential([{"type": "dense", "units": 1}], error="square", seed=0)
    x = np.linspace(-1, 1, 20).reshape(-1, 1)
    history = net.fit(x, 0.3 * x[:, 0] + 0.1, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "lr"}  # the learning rate in force, every epoch


def test_validation_split_and_data_add_val_metrics() -> None:
    x, t = (
        np.random.default_rng(0).standard_normal((50, 4)),
        np.random.default_rng(1).integers(0, 3, 50),
    )
    h1 = small_net(seed=0).fit(x, t, epochs=2, validation_split=0.2, verbose=0)
    h2 = small_net(seed=0).fit(
        x[:40], t[:40], epochs=2, validation_data=(x[40:], t[40:]), verbose=0
    )
    assert set(h1.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert h1.history == h2.history


def test_layers_by_index_and_name_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    net = Sequential(
        [
            {"type": "dense", "units": 4, "name": "hidden"},
            {"type": "dense", "units": 2},
            "activation(activation='softmax')",
        ],
        error="cross_entropy",
    )
    assert net.layer_names == ["hidden", "dense_1", "activation_1"]
    assert net["hidden"] is net[0] and net["dense_1"] is net[1] and len(net) == 3
    with pytest.raises(KeyError, match="no layer named 'nope'; the layers are hidden, dense_1"):
        net["nope"]
    net.build((3,))
    assert net.summary() is None  # printed once, as Keras does, not also shown as a value
    text = capsys.readouterr().out
    assert "hidden" in text
    assert "(N, 4)" in text and "16" in text and "total parameters: 26" in text


# -- bad input ---------------------------------------------------------------------------------


def snapshot(net: Sequential) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in net.params.items()}


@pytest.mark.parametrize(
    ("x", "t", "message"),
    [
        (np.ones((5, 4)), np.zeros(4, dtype=int), "x has 5 samples but t has 4 samples"),
        (np.ones((5, 3)), np.zeros(5, dtype=int),
         "per-sample shape (3,), but the network was built for (4,)"),
        (np.full((5, 4), np.nan), np.zeros(5, dtype=int), "x holds 20 NaN or infinite values"),
        (np.ones((5, 4)), np.full(5, np.inf), "t holds 5 NaN or infinite values"),
        (np.ones((5, 4)), np.zeros((5, 2)),
         "t has shape (5, 2) but the network's output has shape (N, 3)"),
        (np.ones((5, 4)), np.array([0, 1, 2, 3, 0]), "labels must lie in 0..2"),
        (np.ones((0, 4)), np.zeros(0, dtype=int), "x is empty"),
        (np.array([["a"] * 4] * 5), np.zeros(5, dtype=int),
         "x has dtype <U1; it must hold numbers"),
        (np.ones(5), np.zeros(5, dtype=int), "it needs a batch axis"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_and_changes_nothing(
    x: np.ndarray, t: np.ndarray, message: str
) -> None:
    net = small_net(optimizer="adam", seed=0)
    net.fit(np.ones((6, 4)), np.zeros(6, dtype=int), epochs=1, verbose=0)
    before, rng_state, steps = snapshot(net), net.rng.bit_generator.state, net.optimizer.iterations  # type: ignore[attr-defined]
    with pytest.raises(ValueError) as info:
        net.fit(x, t, epochs=1, verbose=0)
    assert message in str(info.value)
    after = snapshot(net)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert net.rng.bit_generator.state == rng_state and net.optimizer.iterations == steps  # type: ignore[attr-defined]


def test_a_failed_first_fit_leaves_the_network_unbuilt() -> None:
    net = small_net(seed=0)
    with pytest.raises(ValueError, match="t has shape"):
        net.fit(np.ones((4, 4)), np.ones((4, 7)), verbose=0)
    assert not net.built
    reference = small_net(seed=0)
    reference.build((4,))
    net.build((4,))
    assert all(np.array_equal(net.params[k], reference.params[k]) for k in net.params)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"validation_split": 1.0}, "validation_split must be a fraction"),
        ({"verbose": 3}, "verbose must be 0, 1 or 2"),
        ({"validation_data": (np.ones((2, 4)),)}, "validation_data must be a pair"),
    ],
)
def test_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        small_net(seed=0).fit(np.ones((4, 4)), np.zeros(4, dtype=int), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"layers": []}, "non-empty list"),
        ({"dtype": "float16"}, "dtype must be 'float32' or 'float64'"),
        ({"layers": [{"type": "dense", "units": "ten"}]},
         "dense units must be a positive integer, got 'ten'"),
        ({"layers": [{"type": "dense", "units": 2},
                     {"type": "dense", "units": 2, "name": "dense_1"}]},
         "two layers are named 'dense_1'"),
    ],
)  # fmt: skip
def test_bad_network_definitions(kwargs: dict[str, object], error: str) -> None:
    arguments: dict[str, object] = {
        "layers": [{"type": "dense", "units": 2}],
        "error": "square",
        **kwargs,
    }
    with pytest.raises(ValueError, match=error):
        Sequential(**arguments)  # type: ignore[arg-type]


def test_unknown_component_names_fail_at_construction() -> None:
    with pytest.raises(plugnet.UnknownComponentError, match="Did you mean 'adam'"):
        small_net(optimizer="adamm")
    with pytest.raises(plugnet.UnknownComponentError, match="unknown activation 'rellu'"):
        Sequential([{"type": "dense", "units": 2, "activation": "rellu"}], error="square")


def test_backward_stops_at_the_first_layer_with_parameters() -> None:
    """A reshape in front of a conv2d gets no backward call, and the conv2d computes no dE/dx;
    the parameter gradients are those of the same network fed pre-shaped inputs."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((6, 16)), rng.integers(0, 3, 6)
    layers = [
        {"type": "conv2d", "filters": 2, "kernel_size": 3, "activation": "tanh"},
        {"type": "flatten"},
        {"type": "dense", "units": 3, "activation": "softmax"},
    ]
    reshaped = plugnet.Sequential(
        [{"type": "reshape", "shape": [1, 4, 4]}, *layers], error="cross_entropy", dtype="float64"
    )
    direct = plugnet.Sequential(layers, error="cross_entropy", dtype="float64")
    calls: list[object] = []
    reshape, conv = reshaped.layers[0], reshaped.layers[1]
    original = conv.backward

    def spy(grad: np.ndarray, *, need_input_grad: bool = True) -> np.ndarray | None:
        calls.append(need_input_grad)
        return original(grad, need_input_grad=need_input_grad)  # type: ignore[call-arg]

    reshape.backward = lambda grad: calls.append("reshape")  # type: ignore[method-assign]
    conv.backward = spy  # type: ignore[method-assign]
    reshaped.build((16,))
    direct.build((1, 4, 4))
    for name, value in reshaped.params.items():
        direct.params[name][...] = value
    targets = np.eye(3)[t]
    reshaped.backward(reshaped.forward(x, training=True), targets)
    direct.backward(direct.forward(x.reshape(6, 1, 4, 4), training=True), targets)
    assert calls == [False]
    for name, grad in reshaped.grads.items():
        np.testing.assert_allclose(grad, direct.grads[name], rtol=1e-12, atol=1e-15)
