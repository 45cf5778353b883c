"""Learning-rate schedules: closed forms, warm-up composition, validation, and optimizers that
use them (including a saved and reloaded network)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.network import Sequential
from plugnet.protocols import Schedule

BASE = 0.2
NAMES = ["constant", "step", "exponential", "cosine", "warmup"]
# cosine(t_max=10, eta_min=0.01) at step 3: 2 of 10 steps elapsed.
COSINE_STEP_3 = 0.01 + (BASE - 0.01) * (1 + math.cos(math.pi * 2 / 10)) / 2


def lr(spec: Any, step: int, base: float = BASE) -> float:
    return plugnet.schedule(spec)(step, base)


# -- values against closed forms -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "step", "expected"),
    [
        ("constant", 1, BASE),
        ("constant", 1000, BASE),
        ("step(step_size=3, gamma=0.5)", 1, BASE),
        ("step(step_size=3, gamma=0.5)", 3, BASE),
        ("step(step_size=3, gamma=0.5)", 4, BASE * 0.5),
        ("step(step_size=3, gamma=0.5)", 7, BASE * 0.25),
        ("step(step_size=2)", 5, BASE * 0.1**2),
        ("exponential(gamma=0.9)", 1, BASE),
        ("exponential(gamma=0.9)", 5, BASE * 0.9**4),
        ("cosine(t_max=10)", 1, BASE),
        ("cosine(t_max=10)", 6, BASE / 2),
        ("cosine(t_max=10, eta_min=0.01)", 6, (BASE + 0.01) / 2),
        ("cosine(t_max=10, eta_min=0.01)", 3, COSINE_STEP_3),
        ("cosine(t_max=10, eta_min=0.01)", 11, 0.01),
        ("cosine(t_max=10, eta_min=0.01)", 500, 0.01),  # stays at eta_min, no restart
        ("warmup(steps=4)", 1, BASE / 4),
        ("warmup(steps=4)", 3, BASE * 3 / 4),
        ("warmup(steps=4)", 4, BASE),
        ("warmup(steps=4)", 5, BASE),
        ("warmup(steps=4)", 99, BASE),
    ],
)  # fmt: skip
def test_values_match_the_closed_form(spec: str, step: int, expected: float) -> None:
    assert lr(spec, step) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_warmup_then_runs_the_other_schedule_from_its_own_step_one() -> None:
    cosine = plugnet.schedule("cosine(t_max=10, eta_min=0.01)")
    for then in (
        "cosine(t_max=10, eta_min=0.01)",
        {"name": "cosine", "t_max": 10, "eta_min": 0.01},
        cosine,
    ):
        warmup = plugnet.schedule({"name": "warmup", "steps": 5, "then": then})
        values = [warmup(t, BASE) for t in range(1, 30)]
        assert values[:5] == pytest.approx([BASE * t / 5 for t in range(1, 6)], rel=1e-12)
        assert values[5:] == [cosine(t - 5, BASE) for t in range(6, 30)]
    step_after = plugnet.schedule("warmup(steps=2, then='step(step_size=3, gamma=0.5)')")
    assert [step_after(t, 1.0) for t in range(1, 10)] == [0.5, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25]


# -- configs and validation ----------------------------------------------------------------------

CONFIGURED = {
    "constant": "constant",
    "step": "step(step_size=7, gamma=0.3)",
    "exponential": "exponential(gamma=0.99)",
    "cosine": "cosine(t_max=50, eta_min=1e-4)",
    "warmup": "warmup(steps=10, then={'name': 'exponential', 'gamma': 0.95})",
}


@pytest.mark.parametrize("name", NAMES)
def test_get_config_round_trip(name: str) -> None:
    schedule = plugnet.schedule(CONFIGURED[name])
    assert isinstance(schedule, Schedule)
    config = schedule.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = plugnet.schedule({"name": name, **config})
    assert rebuilt == schedule
    assert [rebuilt(t, BASE) for t in range(1, 40)] == [schedule(t, BASE) for t in range(1, 40)]


def test_warmup_records_then_as_a_qualified_dict_spec() -> None:
    assert plugnet.schedule("warmup(steps=3)").get_config() == {
        "steps": 3,
        "then": {"name": "plugnet:constant"},
    }
    assert plugnet.schedule("warmup(steps=3, then='cosine(t_max=5)')").get_config() == {
        "steps": 3,
        "then": {"name": "plugnet:cosine", "t_max": 5, "eta_min": 0.0},
    }


def test_schedules_are_listed() -> None:
    assert set(NAMES) <= set(plugnet.available("schedule"))


@pytest.mark.parametrize(
    ("spec", "parameter"),
    [
        ("step(step_size=0)", "step_size"),
        ("step(step_size=2.5)", "step_size"),
        ("step(step_size=True)", "step_size"),
        ("step(step_size=2, gamma=0)", "gamma"),
        ("step(step_size=2, gamma='half')", "gamma"),
        ("exponential(gamma=-0.5)", "gamma"),
        ("exponential(gamma=float('inf'))", None),
        ("cosine(t_max=0)", "t_max"),
        ("cosine(t_max=10, eta_min=-1e-3)", "eta_min"),
        ("warmup(steps=0)", "steps"),
        ("warmup(steps=-3)", "steps"),
    ],
)
def test_bad_arguments_name_the_parameter(spec: str, parameter: str | None) -> None:
    with pytest.raises(ValueError, match=rf"\b{parameter} must be" if parameter else None):
        plugnet.schedule(spec)


def test_bad_then_and_bad_steps() -> None:
    with pytest.raises(LookupError, match="unknown schedule 'cosnie'"):
        plugnet.schedule("warmup(steps=3, then='cosnie')")
    for name in NAMES:
        with pytest.raises(ValueError, match="numbered from 1"):
            plugnet.schedule(CONFIGURED[name])(0, BASE)


def test_a_missing_required_argument_is_a_spec_error() -> None:
    with pytest.raises(plugnet.SpecError, match="missing a required argument: 't_max'"):
        plugnet.schedule("cosine")
    with pytest.raises(plugnet.SpecError, match="'gamma'"):
        plugnet.schedule("exponential")


# -- optimizers with a schedule ------------------------------------------------------------------


def test_sgd_steps_by_the_scheduled_learning_rate() -> None:
    sgd = plugnet.optimizer("sgd(lr=0.1, schedule='step(step_size=1, gamma=0.5)')")
    p = np.array([1.0, -2.0])
    g = np.array([0.5, 4.0])
    for t, expected_lr in enumerate([0.1, 0.05, 0.025], start=1):
        before = p.copy()
        sgd.update({"p": p}, {"p": g})
        np.testing.assert_allclose(p - before, -expected_lr * g, rtol=1e-12)
        assert sgd.current_lr == pytest.approx(expected_lr)  # type: ignore[attr-defined]
        assert sgd.lr == 0.1 and sgd.iterations == t  # type: ignore[attr-defined]


def test_adam_with_warmup_scales_its_step() -> None:
    plain = plugnet.optimizer("adam(lr=0.01)")
    warm = plugnet.optimizer({"name": "adam", "lr": 0.01, "schedule": "warmup(steps=4)"})
    a, b = {"w": np.ones(3)}, {"w": np.ones(3)}
    grad = {"w": np.array([0.1, -0.2, 0.3])}
    plain.update(a, grad)
    warm.update(b, grad)
    np.testing.assert_allclose(1 - b["w"], (1 - a["w"]) / 4, rtol=1e-12)


def test_scheduled_optimizer_config_round_trip() -> None:
    adam = plugnet.optimizer("adam(lr=0.01, schedule='cosine(t_max=100)')")
    config = adam.get_config()
    assert config["schedule"] == {"name": "plugnet:cosine", "t_max": 100, "eta_min": 0.0}
    assert json.loads(json.dumps(config)) == config
    assert plugnet.optimizer({"name": "adam", **config}) == adam
    instance = plugnet.optimizer({"name": "sgd", "schedule": plugnet.schedule("constant")})
    assert instance.get_config()["schedule"] == {"name": "plugnet:constant"}


def test_a_bad_schedule_spec_is_refused() -> None:
    with pytest.raises(LookupError, match="unknown schedule"):
        plugnet.optimizer("sgd(schedule='cosnie')")
    with pytest.raises(plugnet.SpecError):
        plugnet.optimizer({"name": "sgd", "schedule": 0.5})


X = np.random.default_rng(0).standard_normal((48, 4))
T = np.random.default_rng(1).integers(0, 3, 48)


def test_saved_network_reloads_its_schedule_and_continues_bit_identically(
    tmp_path: Path,
) -> None:
    net = Sequential(
        [
            {"type": "dense", "units": 6, "activation": "relu"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer="adam(lr=0.01, schedule='cosine(t_max=100)')",
        seed=5,
    )
    net.fit(X, T, epochs=2, batch_size=16, verbose=0)
    net.save(tmp_path / "model.npz")
    loaded = plugnet.load(tmp_path / "model.npz")

    assert loaded.optimizer.get_config() == {
        "lr": 0.01,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "schedule": {"name": "plugnet:cosine", "t_max": 100, "eta_min": 0.0},
    }
    assert loaded.optimizer.iterations == net.optimizer.iterations == 6  # type: ignore[attr-defined]
    net.fit(X, T, epochs=3, batch_size=16, verbose=0)
    loaded.fit(X, T, epochs=3, batch_size=16, verbose=0)
    assert loaded.optimizer.current_lr == net.optimizer.current_lr < 0.01  # type: ignore[attr-defined]
    for name, value in net.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
