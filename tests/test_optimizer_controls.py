"""The optimizers' training controls: weight decay, gradient clipping, schedules that count
epochs, and the learning rate in the training logs.

The trajectories are compared with NumPy transcriptions of the pseudo-code on PyTorch's pages
(torch 2.x), one function per algorithm below, so that PyTorch is not needed to run them.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.network import Sequential
from plugnet.protocols import EpochAware, HasLearningRate, Optimizer
from plugnet_builtins.optimizers import SGD

Params = dict[str, np.ndarray]
SHAPES = {"dense_1.w": (3, 4), "dense_1.b": (4,)}
STEPS = 20
WEIGHT_DECAY = 0.05

# -- PyTorch's algorithms, transcribed --------------------------------------------------------
# Each function is one iteration of the "Algorithm" box on the page named above it, for one
# parameter θ (``theta``) with gradient g at step t (from 1), maximize=False; ``state`` holds
# that parameter's buffers. PyTorch's option names map to this project's as in ``TORCH`` below.


def torch_sgd(
    theta: np.ndarray,
    g: np.ndarray,
    state: dict[str, Any],
    t: int,
    *,
    lr: float,
    weight_decay: float,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> np.ndarray:
    """https://pytorch.org/docs/stable/generated/torch.optim.SGD.html (dampening τ = 0)."""
    if weight_decay != 0:
        g = g + weight_decay * theta
    if momentum != 0:
        b = momentum * state["b"] + g if t > 1 else g
        state["b"] = b
        g = g + momentum * b if nesterov else b
    return theta - lr * g


def torch_adagrad(
    theta: np.ndarray,
    g: np.ndarray,
    state: dict[str, Any],
    t: int,
    *,
    lr: float,
    eps: float,
    weight_decay: float,
) -> np.ndarray:
    """https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html (lr_decay η = 0, so
    γ̃ = γ; initial_accumulator_value 0)."""
    if weight_decay != 0:
        g = g + weight_decay * theta
    state["sum"] = state.get("sum", 0.0) + g * g
    return theta - lr * g / (np.sqrt(state["sum"]) + eps)


def torch_rmsprop(
    theta: np.ndarray,
    g: np.ndarray,
    state: dict[str, Any],
    t: int,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
) -> np.ndarray:
    """https://pytorch.org/docs/stable/generated/torch.optim.RMSprop.html (not centered, no
    momentum)."""
    if weight_decay != 0:
        g = g + weight_decay * theta
    state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * g**2
    return theta - lr * g / (np.sqrt(state["v"]) + eps)


def torch_adadelta(
    theta: np.ndarray,
    g: np.ndarray,
    state: dict[str, Any],
    t: int,
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
) -> np.ndarray:
    """https://pytorch.org/docs/stable/generated/torch.optim.Adadelta.html"""
    if weight_decay != 0:
        g = g + weight_decay * theta
    state["v"] = state.get("v", 0.0) * rho + g**2 * (1 - rho)
    dx = np.sqrt(state.get("u", 0.0) + eps) / np.sqrt(state["v"] + eps) * g
    state["u"] = state.get("u", 0.0) * rho + dx**2 * (1 - rho)
    return theta - lr * dx


def torch_adam(
    theta: np.ndarray,
    g: np.ndarray,
    state: dict[str, Any],
    t: int,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool = False,
    decoupled: bool = False,
) -> np.ndarray:
    """https://pytorch.org/docs/stable/generated/torch.optim.Adam.html, and with
    ``decoupled`` https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html (θ is
    decayed by γλθ and g is left alone). The max of AMSGrad is over the uncorrected v, as the
    torch 2 pages write it and every torch version computes it (older pages wrote it over the
    bias-corrected v̂, which the code never did)."""
    if decoupled:
        theta = theta - lr * weight_decay * theta
    elif weight_decay != 0:
        g = g + weight_decay * theta
    state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g**2
    m_hat = state["m"] / (1 - beta1**t)
    if amsgrad:
        state["v_max"] = np.maximum(state.get("v_max", 0.0), state["v"])
        v_hat = state["v_max"] / (1 - beta2**t)
    else:
        v_hat = state["v"] / (1 - beta2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps)


def torch_adamax(
    theta: np.ndarray,
    g: np.ndarray,
    state: dict[str, Any],
    t: int,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> np.ndarray:
    """https://pytorch.org/docs/stable/generated/torch.optim.Adamax.html"""
    if weight_decay != 0:
        g = g + weight_decay * theta
    state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    state["u"] = np.maximum(beta2 * state.get("u", 0.0), np.abs(g) + eps)
    return theta - lr * state["m"] / ((1 - beta1**t) * state["u"])


def torch_nadam(
    theta: np.ndarray,
    g: np.ndarray,
    state: dict[str, Any],
    t: int,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    momentum_decay: float,
) -> np.ndarray:
    """https://pytorch.org/docs/stable/generated/torch.optim.NAdam.html
    (decoupled_weight_decay=False)."""
    if weight_decay != 0:
        g = g + weight_decay * theta
    mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    state["mu_product"] = state.get("mu_product", 1.0) * mu  # Π_{i=1}^{t} μ_i
    state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g**2
    m_hat = mu_next * state["m"] / (1 - state["mu_product"] * mu_next) + (1 - mu) * g / (
        1 - state["mu_product"]
    )
    v_hat = state["v"] / (1 - beta2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps)


def torch_clip_grad_value(grads: Params, clip_value: float) -> Params:
    """https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_value_.html: each
    element clamped to [−clip_value, clip_value]."""
    return {k: np.clip(g, -clip_value, clip_value) for k, g in grads.items()}


def torch_clip_grad_norm(grads: Params, max_norm: float) -> tuple[Params, bool]:
    """https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html: the norm
    over the norms of every parameter's gradient; torch/nn/utils/clip_grad.py scales by
    clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1. Also says whether it
    scaled."""
    total = np.linalg.norm([np.linalg.norm(g) for g in grads.values()])
    coefficient = max_norm / (total + 1e-6)
    return {k: g * min(coefficient, 1.0) for k, g in grads.items()}, coefficient < 1


# Each built-in that PyTorch has: its plugnet config (non-default hyperparameters, so that a
# swapped argument shows), the transcription, and the transcription's arguments.
TORCH: dict[str, tuple[dict[str, Any], Callable[..., np.ndarray], dict[str, Any]]] = {
    "sgd": ({"lr": 0.1}, torch_sgd, {"lr": 0.1}),
    "momentum": ({"lr": 0.05, "momentum": 0.8}, torch_sgd, {"lr": 0.05, "momentum": 0.8}),
    "nesterov": (
        {"lr": 0.05, "momentum": 0.7},
        torch_sgd,
        {"lr": 0.05, "momentum": 0.7, "nesterov": True},
    ),
    "adagrad": ({"lr": 0.2, "eps": 1e-6}, torch_adagrad, {"lr": 0.2, "eps": 1e-6}),
    "rmsprop": (
        {"lr": 0.03, "rho": 0.9, "eps": 1e-6},
        torch_rmsprop,
        {"lr": 0.03, "alpha": 0.9, "eps": 1e-6},
    ),
    "adadelta": (
        {"lr": 0.5, "rho": 0.8, "eps": 1e-4},
        torch_adadelta,
        {"lr": 0.5, "rho": 0.8, "eps": 1e-4},
    ),
    "adam": (
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
        torch_adam,
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    ),
    "adamw": (
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
        torch_adam,
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "decoupled": True},
    ),
    "amsgrad": (
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
        torch_adam,
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "amsgrad": True},
    ),
    "adamax": (
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
        torch_adamax,
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    ),
    "nadam": (
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "momentum_decay": 0.05},
        torch_nadam,
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "momentum_decay": 0.05},
    ),
}
# The built-ins PyTorch lacks: their weight decay is checked by its defining property.
NOT_IN_TORCH: dict[str, dict[str, Any]] = {
    "rmsprop_graves": {"lr": 0.01, "rho": 0.9, "momentum": 0.8, "eps": 1e-3},
    "adabound": {"lr": 0.05, "beta1": 0.8, "beta2": 0.95, "final_lr": 0.02, "gamma": 0.05},
    "amsbound": {"lr": 0.05, "beta1": 0.8, "beta2": 0.95, "final_lr": 0.02, "gamma": 0.05},
    "adabelief": {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    "smorms3": {"lr": 0.05, "eps": 1e-8},
}
COUPLED = [name for name in [*TORCH, *NOT_IN_TORCH] if name != "adamw"]

# What the test loop does around the step: None, or the clipping limits (PyTorch's order:
# clip_grad_value_, then clip_grad_norm_, then optimizer.step, which adds the weight decay).
CONTROLS = {
    "decay": {"weight_decay": WEIGHT_DECAY},
    "decay+clipnorm": {"weight_decay": WEIGHT_DECAY, "clipnorm": 4.0},
    "decay+clipvalue+clipnorm": {"weight_decay": WEIGHT_DECAY, "clipvalue": 1.5, "clipnorm": 4.0},
}


def initial_params() -> Params:
    rng = np.random.default_rng(3)
    return {k: rng.standard_normal(s) for k, s in SHAPES.items()}


CURVATURE = {k: np.random.default_rng(4).uniform(0.5, 3.0, s) for k, s in SHAPES.items()}


def gradients(params: Mapping[str, np.ndarray], t: int) -> Params:
    """The gradient at step t of E = Σ ½ c·θ² plus a fixed noise per step, scaled up on odd
    steps and down on even ones (so that a clipping limit binds on some steps only). It depends
    on θ, so an error in one step shows in every later one."""
    rng = np.random.default_rng(100 + t)
    scale = 1.5 if t % 2 else 0.25
    return {
        k: scale * (CURVATURE[k] * p + 0.5 * rng.standard_normal(p.shape))
        for k, p in params.items()
    }


def torch_trajectory(
    name: str, controls: Mapping[str, float]
) -> tuple[list[Params], dict[str, int]]:
    """θ after each step, by the transcriptions; and in how many steps each clipping acted."""
    _, step, arguments = TORCH[name]
    params, states = initial_params(), {k: {} for k in SHAPES}
    acted = {"clipvalue": 0, "clipnorm": 0}
    trajectory = []
    for t in range(1, STEPS + 1):
        grads = gradients(params, t)
        if "clipvalue" in controls:
            acted["clipvalue"] += any(
                np.any(abs(g) > controls["clipvalue"]) for g in grads.values()
            )
            grads = torch_clip_grad_value(grads, controls["clipvalue"])
        if "clipnorm" in controls:
            grads, scaled = torch_clip_grad_norm(grads, controls["clipnorm"])
            acted["clipnorm"] += scaled
        params = {
            k: step(params[k], grads[k], states[k], t, **arguments, weight_decay=controls.get(
                "weight_decay", 0.0))
            for k in SHAPES
        }  # fmt: skip
        trajectory.append(params)
    return trajectory, acted


def plugnet_trajectory(optimizer: Any, dtype: Any = np.float64) -> list[Params]:
    params = {k: v.astype(dtype) for k, v in initial_params().items()}
    trajectory = []
    for t in range(1, STEPS + 1):
        grads = {k: v.astype(dtype) for k, v in gradients(params, t).items()}
        optimizer.update(params, grads)
        trajectory.append({k: v.copy() for k, v in params.items()})
    return trajectory


# -- trajectories against PyTorch's --------------------------------------------------------------


@pytest.mark.parametrize("controls", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize("name", TORCH)
def test_trajectory_equals_pytorchs(name: str, controls: dict[str, float]) -> None:
    config = TORCH[name][0]
    optimizer = plugnet.optimizer({"name": name, **config, **controls})
    expected, acted = torch_trajectory(name, controls)
    for limit in ("clipvalue", "clipnorm"):  # each limit binds in some steps, not in others
        assert limit not in controls or 0 < acted[limit] < STEPS, acted
    for t, (mine, theirs) in enumerate(
        zip(plugnet_trajectory(optimizer), expected, strict=True), start=1
    ):
        for k in SHAPES:
            np.testing.assert_allclose(
                mine[k], theirs[k], rtol=1e-12, atol=1e-13, err_msg=f"{k}, step {t}"
            )


@pytest.mark.parametrize("name", TORCH)
def test_weight_decay_changes_the_trajectory(name: str) -> None:
    """The weight decay is not silently ignored: without it the trajectory differs."""
    plain, _ = torch_trajectory(name, {})
    decayed = plugnet_trajectory(
        plugnet.optimizer({"name": name, **TORCH[name][0], **CONTROLS["decay"]})
    )
    assert not np.allclose(plain[-1]["dense_1.w"], decayed[-1]["dense_1.w"], rtol=1e-6)


def test_adamw_decays_by_default_as_pytorch() -> None:
    default = plugnet.optimizer("adamw")
    assert default.get_config()["weight_decay"] == 0.01  # torch.optim.AdamW's default
    arguments = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    params, state = initial_params(), {k: {} for k in SHAPES}
    expected = []
    for t in range(1, STEPS + 1):
        grads = gradients(params, t)
        params = {
            k: torch_adam(params[k], grads[k], state[k], t, **arguments, weight_decay=0.01,
                          decoupled=True)
            for k in SHAPES
        }  # fmt: skip
        expected.append(params)
    for mine, theirs in zip(plugnet_trajectory(default), expected, strict=True):
        for k in SHAPES:
            np.testing.assert_allclose(mine[k], theirs[k], rtol=1e-12, atol=1e-13)


# -- the defining properties, for every optimizer ------------------------------------------------


def _step_pairs(controlled: Any, plain: Any, transform: Callable[[Params, Params], Params]) -> None:
    """Step ``controlled`` on the raw gradients and ``plain`` on ``transform(params, grads)``;
    the two must stay bit-identical."""
    a, b = initial_params(), initial_params()
    for t in range(1, STEPS + 1):
        grads = gradients(a, t)
        controlled.update(a, grads)
        plain.update(b, transform(b, gradients(b, t)))
        for k in SHAPES:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{k}, step {t}")


def _config(name: str) -> dict[str, Any]:
    return {"name": name, **(TORCH[name][0] if name in TORCH else NOT_IN_TORCH[name])}


@pytest.mark.parametrize("name", COUPLED)
def test_coupled_weight_decay_is_the_plain_step_on_grad_plus_decay_times_param(name: str) -> None:
    _step_pairs(
        plugnet.optimizer({**_config(name), "weight_decay": WEIGHT_DECAY}),
        plugnet.optimizer(_config(name)),
        lambda p, g: {k: g[k] + WEIGHT_DECAY * p[k] for k in g},
    )


@pytest.mark.parametrize("name", [*TORCH, *NOT_IN_TORCH])
def test_clipvalue_is_the_plain_step_on_clamped_gradients(name: str) -> None:
    _step_pairs(
        plugnet.optimizer({**_config(name), "clipvalue": 0.6}),
        plugnet.optimizer(_config(name)),
        lambda p, g: {k: np.clip(v, -0.6, 0.6) for k, v in g.items()},
    )


@pytest.mark.parametrize("name", [*TORCH, *NOT_IN_TORCH])
def test_clipnorm_follows_clip_grad_norm_and_then_decays(name: str) -> None:
    """Clipping comes before the coupled weight decay (clip_grad_norm_ before step()). AdamW
    decays by its default 0.01 in both, decoupled, so its gradient gets no decay term."""
    decay = 0.0 if name == "adamw" else WEIGHT_DECAY
    controlled = plugnet.optimizer(
        {**_config(name), "clipnorm": 4.0, **({"weight_decay": decay} if decay else {})}
    )
    plain = plugnet.optimizer(_config(name))
    a, b = initial_params(), initial_params()
    for t in range(1, STEPS + 1):
        controlled.update(a, gradients(a, t))
        clipped, _ = torch_clip_grad_norm(gradients(b, t), 4.0)
        plain.update(b, {k: clipped[k] + decay * b[k] for k in SHAPES})
        for k in SHAPES:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-13)


def test_clipnorm_bounds_the_global_norm_and_keeps_the_direction() -> None:
    sgd = plugnet.optimizer("sgd(lr=1.0, clipnorm=2.0)")
    params = {"a": np.zeros(3), "b": np.zeros((2, 2))}
    grads = {"a": np.array([3.0, 0.0, -4.0]), "b": np.full((2, 2), 6.0)}  # global norm 13
    sgd.update(params, grads)
    step = np.concatenate([-params["a"], -params["b"].ravel()])
    raw = np.concatenate([grads["a"], grads["b"].ravel()])
    assert np.linalg.norm(step) == pytest.approx(2.0 * 13 / (13 + 1e-6), rel=1e-14)
    np.testing.assert_allclose(step / np.linalg.norm(step), raw / 13, rtol=1e-14)
    small = plugnet.optimizer("sgd(lr=1.0, clipnorm=20.0)")  # below the limit: not scaled
    params = {"a": np.zeros(3), "b": np.zeros((2, 2))}
    small.update(params, grads)
    np.testing.assert_array_equal(-params["a"], grads["a"])


def test_float32_gradients_clip_to_the_float64_result() -> None:
    """The float32 norm is a float32 dot product, as PyTorch's: within float32's precision."""
    rng = np.random.default_rng(7)
    grads = {"w": rng.standard_normal((300, 200)), "b": rng.standard_normal(200)}
    steps = {}
    for dtype in (np.float32, np.float64):
        params = {k: np.zeros(v.shape, dtype=dtype) for k, v in grads.items()}
        plugnet.optimizer("sgd(lr=1.0, clipnorm=1.0)").update(
            params, {k: v.astype(dtype) for k, v in grads.items()}
        )
        assert all(v.dtype == dtype for v in params.values())
        steps[dtype] = params
    for k in grads:
        np.testing.assert_allclose(steps[np.float32][k], steps[np.float64][k], rtol=1e-5, atol=1e-9)


def test_huge_float32_gradients_are_clipped_to_a_finite_step() -> None:
    """A float32 sum of squares that overflows is redone in float64, so float32 gradients whose
    squares overflow float32 are still scaled down to the limit, without a warning."""
    sgd = plugnet.optimizer("sgd(lr=1.0, clipnorm=1.0)")
    params = {"w": np.zeros((4, 4), dtype=np.float32)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sgd.update(params, {"w": np.full((4, 4), 1e25, dtype=np.float32)})
    assert params["w"].dtype == np.float32
    assert np.all(np.isfinite(params["w"]))
    assert float(np.linalg.norm(params["w"].astype(np.float64))) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e200])
def test_a_non_finite_norm_scales_nothing_and_raises_no_warning(bad: float) -> None:
    """NaN or infinite gradients (or float64 squares that overflow) mean the step diverged: the
    gradients are left as they are for the training loop's non-finite-loss check."""
    sgd = plugnet.optimizer("sgd(lr=1.0, clipnorm=1.0)")
    params = {"w": np.zeros(3)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sgd.update(params, {"w": np.array([bad, 1.0, 2.0])})
    np.testing.assert_array_equal(params["w"], [-bad, -1.0, -2.0])


@pytest.mark.parametrize("name", [*TORCH, *NOT_IN_TORCH])
def test_controls_leave_the_callers_gradients_and_dtypes_alone(name: str) -> None:
    controls = {"clipvalue": 0.6, "clipnorm": 4.0}
    if name != "adamw":
        controls["weight_decay"] = WEIGHT_DECAY
    optimizer = plugnet.optimizer({**_config(name), **controls})
    params = {k: v.astype(np.float32) for k, v in initial_params().items()}
    arrays = dict(params)
    for t in range(1, 4):
        grads = {k: v.astype(np.float32) for k, v in gradients(params, t).items()}
        before = {k: v.copy() for k, v in grads.items()}
        optimizer.update(params, grads)
        for k in SHAPES:
            np.testing.assert_array_equal(grads[k], before[k])
            assert params[k] is arrays[k] and params[k].dtype == np.float32
    for key, value in optimizer.get_state().items():  # type: ignore[attr-defined]
        if key != "iterations":
            assert value.dtype == np.float32, key


# -- arguments and configs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"clipnorm": 0}, "clipnorm"),
        ({"clipnorm": -1.0}, "clipnorm"),
        ({"clipnorm": float("nan")}, "clipnorm"),
        ({"clipnorm": float("inf")}, "clipnorm"),
        ({"clipnorm": True}, "clipnorm"),
        ({"clipvalue": 0.0}, "clipvalue"),
        ({"clipvalue": "1"}, "clipvalue"),
        ({"clipvalue": -0.5}, "clipvalue"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"weight_decay": float("inf")}, "weight_decay"),
        ({"weight_decay": None}, "weight_decay"),
        ({"schedule_unit": "epochs"}, "schedule_unit"),
        ({"schedule_unit": "Epoch"}, "schedule_unit"),
        ({"schedule_unit": 1}, "schedule_unit"),
    ],
)
@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "smorms3"])
def test_bad_controls_name_the_parameter(
    name: str, arguments: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(ValueError, match=rf"\b{parameter} must be"):
        plugnet.optimizer({"name": name, **arguments})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"clipnorm": 0.0}, r"clipnorm must be a finite number > 0, got 0\.0"),
        ({"clipvalue": "1"}, r"clipvalue must be None \(no clipping\) or a finite number > 0"),
        ({"weight_decay": -1.0}, r"weight_decay must be a finite number >= 0, got -1\.0"),
        ({"schedule_unit": "epochs"}, r"schedule_unit must be 'step' .* or 'epoch'"),
    ],
)
def test_the_classes_check_their_controls_too(arguments: dict[str, Any], message: str) -> None:
    """Without the registry's annotation checks (a class built directly), the same errors."""
    with pytest.raises(ValueError, match=message):
        SGD(**arguments)


def test_unused_controls_leave_the_config_as_it_was() -> None:
    assert plugnet.optimizer("adam").get_config() == {
        "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "schedule": None,
    }  # fmt: skip
    assert plugnet.optimizer("adam(weight_decay=0.0, schedule_unit='step')").get_config() == (
        plugnet.optimizer("adam").get_config()
    )
    assert "weight_decay" in plugnet.optimizer("adamw(weight_decay=0.0)").get_config()


@pytest.mark.parametrize("name", [*TORCH, *NOT_IN_TORCH])
def test_controls_are_in_the_config_and_rebuild(name: str) -> None:
    controls = {"weight_decay": 0.02, "clipnorm": 4.0, "clipvalue": 0.25, "schedule_unit": "epoch"}
    optimizer = plugnet.optimizer({**_config(name), **controls, "schedule": "cosine(t_max=5)"})
    config = optimizer.get_config()
    assert {k: config[k] for k in controls} == controls
    assert json.loads(json.dumps(config)) == config
    assert plugnet.optimizer({"name": name, **config}) == optimizer
    # AdamW's weight decay 0 is recorded, else a rebuild would decay by the default 0.01.
    adamw = plugnet.optimizer("adamw(weight_decay=0.0)")
    assert plugnet.optimizer({"name": "adamw", **adamw.get_config()}).weight_decay == 0.0  # type: ignore[attr-defined]


def test_every_builtin_declares_the_capabilities_fit_uses() -> None:
    for name in [*TORCH, *NOT_IN_TORCH]:
        optimizer = plugnet.optimizer(name)
        assert isinstance(optimizer, EpochAware) and isinstance(optimizer, HasLearningRate)


# -- schedules by epoch or by step, and the learning rate in the logs ---------------------------

X = np.random.default_rng(0).standard_normal((40, 4))
T = np.random.default_rng(1).integers(0, 3, 40)
BATCHES = 4  # 40 samples in batches of 10


def _net(optimizer: Any) -> Sequential:
    return Sequential(
        [
            {"type": "dense", "units": 6, "activation": "tanh"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer=optimizer,
        seed=0,
    )


class RateRecorder(plugnet.Callback):
    """The learning rate of every update, by epoch."""

    def __init__(self) -> None:
        self.rates: list[list[float]] = []

    def on_epoch_begin(self, epoch: int) -> None:
        self.rates.append([])

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.rates[-1].append(self.network.optimizer.current_lr)  # type: ignore[attr-defined]


HALVING = "step(step_size=1, gamma=0.5)"


def test_an_epoch_schedule_sees_the_epoch_number_from_one() -> None:
    net = _net(f"sgd(lr=0.1, schedule='{HALVING}', schedule_unit='epoch')")
    recorder = RateRecorder()
    history = net.fit(X, T, epochs=3, batch_size=10, callbacks=[recorder], verbose=0)
    assert recorder.rates == [[0.1] * BATCHES, [0.05] * BATCHES, [0.025] * BATCHES]
    assert history.history["lr"] == [0.1, 0.05, 0.025]
    # A second fit goes on counting, as the step count does.
    assert net.fit(X, T, epochs=1, batch_size=10, verbose=0).history["lr"] == [0.0125]
    assert net.optimizer.epochs == 4 and net.optimizer.iterations == 4 * BATCHES  # type: ignore[attr-defined]


def test_a_step_schedule_sees_the_update_number_and_logs_the_last_rate() -> None:
    net = _net(f"sgd(lr=0.1, schedule='{HALVING}')")
    recorder = RateRecorder()
    history = net.fit(X, T, epochs=2, batch_size=10, callbacks=[recorder], verbose=0)
    assert recorder.rates == [[0.1 * 0.5**t for t in range(4)], [0.1 * 0.5**t for t in range(4, 8)]]
    assert history.history["lr"] == [0.1 * 0.5**3, 0.1 * 0.5**7]


def test_the_rate_is_logged_without_a_schedule_and_in_the_csv(tmp_path: Path) -> None:
    net = _net("adam(lr=0.01)")
    history = net.fit(
        X, T, epochs=2, batch_size=10, validation_split=0.25,
        callbacks=[plugnet.CSVLogger(tmp_path / "log.csv")], verbose=0,
    )  # fmt: skip
    assert history.history["lr"] == [0.01, 0.01]
    with (tmp_path / "log.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [float(row["lr"]) for row in rows] == [0.01, 0.01]
    assert all(math.isfinite(float(row["val_loss"])) for row in rows)
    assert history.plot(tmp_path / "curves.png").stat().st_size > 0


def test_an_epoch_count_survives_save_and_load(tmp_path: Path) -> None:
    net = _net(f"adam(lr=0.01, schedule='{HALVING}', schedule_unit='epoch')")
    net.fit(X, T, epochs=2, batch_size=10, verbose=0)
    net.save(tmp_path / "model.npz")
    loaded = plugnet.load(tmp_path / "model.npz")
    assert loaded.optimizer.get_config() == net.optimizer.get_config()
    assert loaded.optimizer.get_config()["schedule_unit"] == "epoch"
    assert int(loaded.optimizer.get_state()["epochs"]) == 2  # type: ignore[attr-defined]
    a = net.fit(X, T, epochs=1, batch_size=10, verbose=0)
    b = loaded.fit(X, T, epochs=1, batch_size=10, verbose=0)
    assert a.history["lr"] == b.history["lr"] == [0.0025]
    for name, value in net.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)


def test_a_step_unit_state_has_no_epoch_count() -> None:
    """Files of optimizers that count steps keep the entries they had."""
    adam = plugnet.optimizer("adam")
    adam.start_epoch()  # type: ignore[attr-defined]
    adam.update({"w": np.zeros(2)}, {"w": np.ones(2)})
    assert set(adam.get_state()) == {"iterations", "m/w", "v/w"}  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"unknown state entry 'epochs'; besides 'iterations'"):
        adam.set_state({"iterations": np.array(1), "epochs": np.array(1)})  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {"iterations": np.array(4)},
            r"no 'epochs' entry; an optimizer with schedule_unit='epoch'",
        ),
        ({"iterations": np.array(4), "epochs": np.array(-1)}, r"'epochs' must be a 0-d integer"),
        ({"iterations": np.array(4), "epochs": np.array(1.0)}, r"'epochs' must be a 0-d integer"),
    ],
)
def test_an_epoch_unit_state_needs_its_epoch_count(state: dict[str, Any], message: str) -> None:
    sgd = plugnet.optimizer("sgd(schedule='constant', schedule_unit='epoch')")
    sgd.start_epoch()  # type: ignore[attr-defined]
    sgd.update({"w": np.zeros(2)}, {"w": np.ones(2)})
    with pytest.raises(ValueError, match=message):
        sgd.set_state(state)  # type: ignore[attr-defined]
    assert sgd.epochs == 1 and sgd.iterations == 1  # type: ignore[attr-defined]


def test_an_epoch_schedule_updated_outside_fit_says_to_call_start_epoch() -> None:
    sgd = plugnet.optimizer("sgd(schedule='constant', schedule_unit='epoch')")
    with pytest.raises(RuntimeError, match=r"no epoch has begun: fit calls optimizer.start_epoch"):
        sgd.update({"w": np.zeros(2)}, {"w": np.ones(2)})
    sgd.start_epoch()  # type: ignore[attr-defined]
    sgd.update({"w": np.zeros(2)}, {"w": np.ones(2)})


def test_the_loop_uses_only_the_capabilities_an_optimizer_declares() -> None:
    class Plain:
        """The Optimizer protocol and nothing more: fit logs no lr and counts no epochs."""

        def update(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
            for name, param in params.items():
                param -= 0.1 * grads[name]

        def get_config(self) -> dict[str, Any]:
            return {}

    class Counting(Plain):
        def __init__(self) -> None:
            self.epochs, self.current_lr = 0, 0.1

        def start_epoch(self) -> None:
            self.epochs += 1

    plain, counting = Plain(), Counting()
    assert isinstance(plain, Optimizer) and not isinstance(plain, EpochAware | HasLearningRate)
    assert "lr" not in _net(plain).fit(X, T, epochs=2, batch_size=10, verbose=0).history
    net = _net(counting)
    assert net.fit(X, T, epochs=3, batch_size=10, verbose=0).history["lr"] == [0.1] * 3
    net.fit(X, T, epochs=2, batch_size=10, verbose=0)
    assert counting.epochs == 5


def test_the_default_optimizer_is_adam() -> None:
    net = Sequential(
        [{"type": "dense", "units": 3, "activation": "softmax"}], error="cross_entropy"
    )
    assert net.optimizer == plugnet.optimizer("adam")
