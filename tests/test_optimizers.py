"""Built-in optimizers: each against its formula written out by hand, state, dtypes, configs."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.protocols import Optimizer

NAMES = [
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "rmsprop_graves",
    "adadelta",
    "adam",
    "adamw",
    "amsgrad",
    "adamax",
    "nadam",
    "adabound",
    "amsbound",
    "adabelief",
    "smorms3",
]
SHAPES = {"dense_1.w": (3, 2), "dense_1.b": (2,)}
STEPS = 5

# Non-default hyperparameters, so that a swapped or ignored argument shows.
CONFIGS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.05, "momentum": 0.8},
    "nesterov": {"lr": 0.05, "momentum": 0.7},
    "adagrad": {"lr": 0.2, "eps": 1e-6},
    "rmsprop": {"lr": 0.03, "rho": 0.9, "eps": 1e-6},
    "adam": {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    "adamw": {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "weight_decay": 0.1},
    "rmsprop_graves": {"lr": 0.01, "rho": 0.9, "momentum": 0.8, "eps": 1e-3},
    "adadelta": {"lr": 0.5, "rho": 0.8, "eps": 1e-4},
    "amsgrad": {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    "adamax": {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    "nadam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "momentum_decay": 0.05},
    # lr and final_lr such that the clipping is active on some coordinates and not on others.
    "adabound": {"lr": 0.05, "beta1": 0.8, "beta2": 0.95, "final_lr": 0.02, "gamma": 0.05,
                 "eps": 1e-6},
    "amsbound": {"lr": 0.05, "beta1": 0.8, "beta2": 0.95, "final_lr": 0.02, "gamma": 0.05,
                 "eps": 1e-6},
    "adabelief": {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    "smorms3": {"lr": 0.05, "eps": 1e-8},
}  # fmt: skip

# PyTorch's defaults (torch.optim), under the names this project uses; no schedule.
DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.001},
    "momentum": {"lr": 0.001, "momentum": 0.9},
    "nesterov": {"lr": 0.001, "momentum": 0.9},
    "adagrad": {"lr": 0.01, "eps": 1e-10},
    "rmsprop": {"lr": 0.01, "rho": 0.99, "eps": 1e-8},
    "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "adamw": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
    "amsgrad": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6},
    "adamax": {"lr": 0.002, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "nadam": {"lr": 0.002, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum_decay": 0.004},
    # No torch.optim counterpart: the paper's or its authors' code's defaults.
    "rmsprop_graves": {"lr": 1e-4, "rho": 0.95, "momentum": 0.9, "eps": 1e-4},
    "adabound": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "final_lr": 0.1, "gamma": 0.001,
                 "eps": 1e-8},
    "amsbound": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "final_lr": 0.1, "gamma": 0.001,
                 "eps": 1e-8},
    "adabelief": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-16},
    "smorms3": {"lr": 0.001, "eps": 1e-16},
}  # fmt: skip


# -- the formulas, written out independently of the implementation ------------------------------
# Each takes one parameter's initial value and its gradients, and returns the value after each step.

Reference = Callable[..., list[np.ndarray]]


def ref_sgd(p: np.ndarray, gs: list[np.ndarray], lr: float) -> list[np.ndarray]:
    out = []
    for g in gs:
        p = p - lr * g
        out.append(p)
    return out


def ref_momentum(
    p: np.ndarray, gs: list[np.ndarray], lr: float, momentum: float
) -> list[np.ndarray]:
    v, out = np.zeros_like(p), []
    for g in gs:
        v = momentum * v + g
        p = p - lr * v
        out.append(p)
    return out


def ref_nesterov(
    p: np.ndarray, gs: list[np.ndarray], lr: float, momentum: float
) -> list[np.ndarray]:
    v, out = np.zeros_like(p), []
    for g in gs:
        v = momentum * v + g
        p = p - lr * (g + momentum * v)
        out.append(p)
    return out


def ref_adagrad(p: np.ndarray, gs: list[np.ndarray], lr: float, eps: float) -> list[np.ndarray]:
    s, out = np.zeros_like(p), []
    for g in gs:
        s = s + g**2
        p = p - lr * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


def ref_rmsprop(
    p: np.ndarray, gs: list[np.ndarray], lr: float, rho: float, eps: float
) -> list[np.ndarray]:
    s, out = np.zeros_like(p), []
    for g in gs:
        s = rho * s + (1 - rho) * g**2
        p = p - lr * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


def ref_adam(
    p: np.ndarray,
    gs: list[np.ndarray],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float = 0.0,
) -> list[np.ndarray]:
    m, v, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(gs, start=1):
        p = p - lr * weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def ref_rmsprop_graves(
    p: np.ndarray, gs: list[np.ndarray], lr: float, rho: float, momentum: float, eps: float
) -> list[np.ndarray]:
    n, g_bar, delta, out = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), []
    for g in gs:
        n = rho * n + (1 - rho) * g**2
        g_bar = rho * g_bar + (1 - rho) * g
        delta = momentum * delta - lr * g / np.sqrt(n - g_bar**2 + eps)
        p = p + delta
        out.append(p)
    return out


def ref_adadelta(
    p: np.ndarray, gs: list[np.ndarray], lr: float, rho: float, eps: float
) -> list[np.ndarray]:
    eg2, edx2, out = np.zeros_like(p), np.zeros_like(p), []  # E[g²], E[Δx²]
    for g in gs:
        eg2 = rho * eg2 + (1 - rho) * g**2
        dx = -np.sqrt(edx2 + eps) / np.sqrt(eg2 + eps) * g
        edx2 = rho * edx2 + (1 - rho) * dx**2
        p = p + lr * dx
        out.append(p)
    return out


def ref_amsgrad(
    p: np.ndarray, gs: list[np.ndarray], lr: float, beta1: float, beta2: float, eps: float
) -> list[np.ndarray]:
    m, v, v_max, out = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(gs, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = np.maximum(v_max, v)
        p = p - lr * (m / (1 - beta1**t)) / (np.sqrt(v_max / (1 - beta2**t)) + eps)
        out.append(p)
    return out


def ref_adamax(
    p: np.ndarray, gs: list[np.ndarray], lr: float, beta1: float, beta2: float, eps: float
) -> list[np.ndarray]:
    m, u, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(gs, start=1):
        m = beta1 * m + (1 - beta1) * g
        u = np.maximum(beta2 * u, np.abs(g) + eps)
        p = p - lr / (1 - beta1**t) * m / u
        out.append(p)
    return out


def ref_nadam(
    p: np.ndarray,
    gs: list[np.ndarray],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    momentum_decay: float,
) -> list[np.ndarray]:
    def mu(t: int) -> float:
        return beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))

    m, v, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(gs, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        prod_t = np.prod([mu(i) for i in range(1, t + 1)])
        prod_next = prod_t * mu(t + 1)
        m_bar = (1 - mu(t)) * g / (1 - prod_t) + mu(t + 1) * m / (1 - prod_next)
        p = p - lr * m_bar / (np.sqrt(v / (1 - beta2**t)) + eps)
        out.append(p)
    return out


def ref_adabound(
    p: np.ndarray,
    gs: list[np.ndarray],
    lr: float,
    beta1: float,
    beta2: float,
    final_lr: float,
    gamma: float,
    eps: float,
    amsbound: bool = False,
) -> list[np.ndarray]:
    m, v, v_max, out = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(gs, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = np.maximum(v_max, v)
        denominator = np.sqrt(v_max if amsbound else v) + eps
        step_size = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) / denominator
        lower = final_lr * (1 - 1 / (gamma * t + 1))
        upper = final_lr * (1 + 1 / (gamma * t))
        p = p - np.clip(step_size, lower, upper) * m
        out.append(p)
    return out


def ref_amsbound(p: np.ndarray, gs: list[np.ndarray], **config: float) -> list[np.ndarray]:
    return ref_adabound(p, gs, **config, amsbound=True)


def ref_adabelief(
    p: np.ndarray, gs: list[np.ndarray], lr: float, beta1: float, beta2: float, eps: float
) -> list[np.ndarray]:
    m, s, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(gs, start=1):
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * (g - m) ** 2 + eps
        m_hat, s_hat = m / (1 - beta1**t), s / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(s_hat) + eps)
        out.append(p)
    return out


def ref_smorms3(p: np.ndarray, gs: list[np.ndarray], lr: float, eps: float) -> list[np.ndarray]:
    mem, g1, g2, out = np.ones_like(p), np.zeros_like(p), np.zeros_like(p), []
    for grad in gs:
        r = 1 / (mem + 1)
        g1 = (1 - r) * g1 + r * grad
        g2 = (1 - r) * g2 + r * grad**2
        x = g1**2 / (g2 + eps)
        p = p - grad * np.minimum(lr, x) / (np.sqrt(g2) + eps)
        mem = 1 + mem * (1 - x)
        out.append(p)
    return out


REFERENCES: dict[str, Reference] = {
    "sgd": ref_sgd,
    "momentum": ref_momentum,
    "nesterov": ref_nesterov,
    "adagrad": ref_adagrad,
    "rmsprop": ref_rmsprop,
    "rmsprop_graves": ref_rmsprop_graves,
    "adadelta": ref_adadelta,
    "adam": ref_adam,
    "adamw": ref_adam,
    "amsgrad": ref_amsgrad,
    "adamax": ref_adamax,
    "nadam": ref_nadam,
    "adabound": ref_adabound,
    "amsbound": ref_amsbound,
    "adabelief": ref_adabelief,
    "smorms3": ref_smorms3,
}


def initial_params(dtype: type = np.float64, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}


def gradient_steps(
    steps: int = STEPS, dtype: type = np.float64, seed: int = 1
) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}
        for _ in range(steps)
    ]


def copy(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: array.copy() for name, array in params.items()}


# -- the update rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_steps_match_the_formula_written_out(name: str) -> None:
    config = CONFIGS[name]
    optimizer = plugnet.optimizer({"name": name, **config})
    params = initial_params()
    start, arrays = copy(params), dict(params)
    steps = gradient_steps()
    expected = {
        p: REFERENCES[name](start[p], [grads[p] for grads in steps], **config) for p in SHAPES
    }
    for t, grads in enumerate(steps):
        optimizer.update(params, grads)
        for p in SHAPES:
            assert params[p] is arrays[p], "update must change the arrays in place"
            np.testing.assert_allclose(params[p], expected[p][t], rtol=1e-12, atol=1e-15)


def test_nesterov_and_momentum_differ_and_adamw_decays() -> None:
    """Guards against one formula silently standing in for another."""
    grads = gradient_steps(2)
    results = {}
    for name in ("momentum", "nesterov", "adam", "adamw"):
        params = initial_params()
        optimizer = plugnet.optimizer(name)
        for g in grads:
            optimizer.update(params, g)
        results[name] = params["dense_1.w"]
    assert not np.allclose(results["momentum"], results["nesterov"], rtol=0, atol=1e-9)
    assert not np.allclose(results["adam"], results["adamw"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_bias_correction_makes_the_first_step_lr_times_sign(name: str) -> None:
    lr = 0.01
    spec: dict[str, Any] = {"name": name, "lr": lr}
    if name == "adamw":
        spec["weight_decay"] = 0.0
    optimizer = plugnet.optimizer(spec)
    params = initial_params()
    start = copy(params)
    grads = {p: g * 1e-3 for p, g in gradient_steps(1)[0].items()}  # scale-free: m̂/√v̂ = sign g
    optimizer.update(params, grads)
    assert optimizer.iterations == 1  # type: ignore[attr-defined]
    for p in SHAPES:
        np.testing.assert_allclose(params[p] - start[p], -lr * np.sign(grads[p]), rtol=1e-4)


# -- state ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_iterations_count_updates(name: str) -> None:
    optimizer = plugnet.optimizer(name)
    assert optimizer.iterations == 0  # type: ignore[attr-defined]
    params = initial_params()
    for t, grads in enumerate(gradient_steps(3), start=1):
        optimizer.update(params, grads)
        assert optimizer.iterations == t  # type: ignore[attr-defined]
    iterations = optimizer.get_state()["iterations"]  # type: ignore[attr-defined]
    assert iterations.dtype == np.int64 and iterations.shape == () and int(iterations) == 3


@pytest.mark.parametrize("name", NAMES)
def test_state_is_kept_per_parameter(name: str) -> None:
    config = CONFIGS[name]
    together = plugnet.optimizer({"name": name, **config})
    alone = plugnet.optimizer({"name": name, **config})
    both, only_w = initial_params(), {"dense_1.w": initial_params()["dense_1.w"]}
    for grads in gradient_steps():
        together.update(both, grads)
        alone.update(only_w, {"dense_1.w": grads["dense_1.w"]})
    # Another parameter's gradients never leak into this one's state or value.
    np.testing.assert_array_equal(both["dense_1.w"], only_w["dense_1.w"])
    before = together.get_state()  # type: ignore[attr-defined]
    bias = both["dense_1.b"].copy()
    together.update({"dense_1.w": both["dense_1.w"]}, {"dense_1.w": np.ones((3, 2))})
    after = together.get_state()  # type: ignore[attr-defined]
    np.testing.assert_array_equal(both["dense_1.b"], bias)
    for key in before:
        if key.endswith("/dense_1.b"):
            np.testing.assert_array_equal(after[key], before[key])
    slots = {key.partition("/")[0] for key in after if key != "iterations"}
    assert {f"{slot}/{p}" for slot in slots for p in SHAPES} | {"iterations"} == set(after)


@pytest.mark.parametrize("name", NAMES)
def test_float32_parameters_keep_float32_state(name: str) -> None:
    optimizer = plugnet.optimizer({"name": name, **CONFIGS[name]})
    params = initial_params(np.float32)
    arrays = dict(params)
    for grads in gradient_steps(3, dtype=np.float32):
        optimizer.update(params, grads)
    for p in SHAPES:
        assert params[p] is arrays[p] and params[p].dtype == np.float32
        assert np.all(np.isfinite(params[p]))
    for key, value in optimizer.get_state().items():  # type: ignore[attr-defined]
        if key != "iterations":
            assert value.dtype == np.float32, key
            assert value.shape == SHAPES[key.partition("/")[2]]


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_continues_bit_identically(name: str) -> None:
    config = CONFIGS[name]
    original = plugnet.optimizer({"name": name, **config})
    params = initial_params()
    steps = gradient_steps(6)
    for grads in steps[:2]:
        original.update(params, grads)

    # Through an .npz, as a saved model would store it.
    buffer = io.BytesIO()
    np.savez(buffer, **original.get_state())  # type: ignore[attr-defined]
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as stored:
        state = {key: stored[key] for key in stored.files}

    restored = plugnet.optimizer({"name": name, **original.get_config()})
    restored.set_state(state)  # type: ignore[attr-defined]
    assert restored.iterations == 2  # type: ignore[attr-defined]
    twin = copy(params)
    for grads in steps[2:]:
        original.update(params, grads)
        restored.update(twin, grads)
        for p in SHAPES:
            np.testing.assert_array_equal(twin[p], params[p])
    a, b = original.get_state(), restored.get_state()  # type: ignore[attr-defined]
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_get_state_and_set_state_copy() -> None:
    optimizer = plugnet.optimizer("adam")
    params = initial_params()
    optimizer.update(params, gradient_steps(1)[0])
    state = optimizer.get_state()  # type: ignore[attr-defined]
    state["m/dense_1.w"][...] = 123.0
    assert not np.any(optimizer.get_state()["m/dense_1.w"] == 123.0)  # type: ignore[attr-defined]
    fresh = plugnet.optimizer("adam")
    fresh.set_state(state)  # type: ignore[attr-defined]
    state["m/dense_1.w"][...] = 0.0
    assert np.all(fresh.get_state()["m/dense_1.w"] == 123.0)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "state", "message"),
    [
        ("adam", {"m/w": np.zeros(2), "v/w": np.zeros(2)}, "no 'iterations'"),
        ("adam", {"iterations": 3}, "'iterations' must be a 0-d integer array"),
        ("adam", {"iterations": np.array(2.5)}, "'iterations' must be a 0-d integer array"),
        ("adam", {"iterations": np.array(-1)}, "'iterations' must be a 0-d integer array"),
        ("adam", {"iterations": np.array(1), "q/w": np.zeros(2)}, "unknown state entry 'q/w'"),
        ("adam", {"iterations": np.array(1), "m": np.zeros(2)}, "unknown state entry 'm'"),
        ("sgd", {"iterations": np.array(1), "m/w": np.zeros(2)}, "unknown state entry 'm/w'"),
        ("momentum", {"iterations": np.array(1), "v/w": [0.0, 0.0]}, "must be a floating-point"),
        ("adam", {"iterations": np.array(1), "m/w": np.zeros(2)}, "lacks the slot"),
        (
            "adam",
            {"iterations": np.array(1), "m/w": np.zeros(2), "v/w": np.zeros(3)},
            "disagree in shape",
        ),
    ],
)
def test_set_state_refuses_bad_state(name: str, state: dict[str, Any], message: str) -> None:
    optimizer = plugnet.optimizer(name)
    params = initial_params()
    optimizer.update(params, gradient_steps(1)[0])
    before = optimizer.get_state()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=message):
        optimizer.set_state(state)  # type: ignore[attr-defined]
    after = optimizer.get_state()  # type: ignore[attr-defined]
    assert after.keys() == before.keys()  # a refused state changes nothing
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_a_parameter_that_changes_shape_or_lacks_a_gradient_is_an_error() -> None:
    optimizer = plugnet.optimizer("adam")
    optimizer.update({"w": np.zeros((2, 3))}, {"w": np.ones((2, 3))})
    with pytest.raises(ValueError, match=r"'w' has shape \(3, 2\) but its optimizer state"):
        optimizer.update({"w": np.zeros((3, 2))}, {"w": np.ones((3, 2))})
    with pytest.raises(KeyError, match="no gradient for parameter 'b'"):
        optimizer.update({"b": np.zeros(2)}, {})


# -- configs, names, validation ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_pytorchs(name: str) -> None:
    optimizer = plugnet.optimizer(name)
    assert isinstance(optimizer, Optimizer)
    assert optimizer.get_config() == {**DEFAULTS[name], "schedule": None}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("configured", [False, True])
def test_get_config_round_trip(name: str, configured: bool) -> None:
    optimizer = plugnet.optimizer({"name": name, **(CONFIGS[name] if configured else {})})
    config = optimizer.get_config()
    assert json.loads(json.dumps(config)) == config
    assert plugnet.optimizer({"name": name, **config}) == optimizer


def test_resolve_by_spec_string_and_alias() -> None:
    adam = plugnet.optimizer("adam(lr=0.01)")
    assert type(adam).__name__ == "Adam" and adam.get_config()["lr"] == 0.01
    adamw = plugnet.optimizer("AdamW(weight_decay=0.1, beta2=0.99)")
    assert adamw.get_config() == {
        **DEFAULTS["adamw"],
        "weight_decay": 0.1,
        "beta2": 0.99,
        "schedule": None,
    }
    assert type(plugnet.optimizer("plugnet:nesterov-momentum")).__name__ == "Nesterov"
    assert type(plugnet.optimizer("sgd_momentum(momentum=0.5)")).__name__ == "Momentum"
    assert set(NAMES) <= set(plugnet.available("optimizer"))


@pytest.mark.parametrize(
    ("name", "kwargs", "parameter"),
    [
        ("sgd", {"lr": 0}, "lr"),
        ("sgd", {"lr": -0.1}, "lr"),
        ("adam", {"lr": float("nan")}, "lr"),
        ("adam", {"lr": "fast"}, "lr"),
        ("momentum", {"momentum": 1.0}, "momentum"),
        ("momentum", {"momentum": -0.1}, "momentum"),
        ("nesterov", {"momentum": 1.5}, "momentum"),
        ("adagrad", {"eps": 0.0}, "eps"),
        ("rmsprop", {"rho": 1.0}, "rho"),
        ("rmsprop", {"eps": -1e-8}, "eps"),
        ("adam", {"beta1": 1.0}, "beta1"),
        ("adam", {"beta2": -0.5}, "beta2"),
        ("adamw", {"beta1": True}, "beta1"),
        ("adamw", {"weight_decay": -0.01}, "weight_decay"),
        ("rmsprop_graves", {"momentum": 1.0}, "momentum"),
        ("rmsprop_graves", {"eps": 0}, "eps"),
        ("adadelta", {"rho": 1.0}, "rho"),
        ("adadelta", {"lr": 0.0}, "lr"),
        ("amsgrad", {"beta2": 1.0}, "beta2"),
        ("adamax", {"beta1": -0.1}, "beta1"),
        ("nadam", {"momentum_decay": -1e-3}, "momentum_decay"),
        ("nadam", {"eps": "tiny"}, "eps"),
        ("adabound", {"final_lr": 0.0}, "final_lr"),
        ("adabound", {"gamma": -1e-3}, "gamma"),
        ("amsbound", {"gamma": float("inf")}, "gamma"),
        ("adabelief", {"eps": 0.0}, "eps"),
        ("smorms3", {"lr": -1e-3}, "lr"),
        ("smorms3", {"eps": None}, "eps"),
    ],
)
def test_bad_hyperparameters_name_the_parameter(
    name: str, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(ValueError, match=rf"\b{parameter} must be"):
        plugnet.optimizer({"name": name, **kwargs})


def test_adabound_bounds_scale_with_the_scheduled_learning_rate() -> None:
    """The authors' code scales final_lr by lr_t / lr, so a schedule moves the bounds too."""
    lr, beta1, beta2, final_lr, gamma, eps = 0.05, 0.8, 0.95, 0.02, 0.05, 1e-6
    optimizer = plugnet.optimizer(
        {"name": "adabound", "lr": lr, "beta1": beta1, "beta2": beta2, "final_lr": final_lr,
         "gamma": gamma, "eps": eps, "schedule": "exponential(gamma=0.5)"}
    )  # fmt: skip
    params = initial_params()
    p, m, v = params["dense_1.w"].copy(), 0.0, 0.0
    for t, grads in enumerate(gradient_steps(), start=1):
        optimizer.update(params, grads)
        g, lr_t, final_t = grads["dense_1.w"], lr * 0.5 ** (t - 1), final_lr * 0.5 ** (t - 1)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        step = lr_t * np.sqrt(1 - beta2**t) / (1 - beta1**t) / (np.sqrt(v) + eps)
        p = (
            p
            - np.clip(step, final_t * (1 - 1 / (gamma * t + 1)), final_t * (1 + 1 / (gamma * t)))
            * m
        )
        np.testing.assert_allclose(params["dense_1.w"], p, rtol=1e-12, atol=1e-15)
