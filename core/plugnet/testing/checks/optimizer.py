"""The optimizer checks, on the convex quadratic E = Σ ½ c ⊙ p²."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from plugnet.protocols import Array
from plugnet.testing.checks import expect
from plugnet.testing.checks.common import DTYPES, SEED, CheckTable, Subject, rebuild
from plugnet.testing.gradients import ConformanceError, assert_close

CHECKS = CheckTable()


def _quadratic(dtype: Any = np.float64) -> tuple[dict[str, Array], dict[str, Array]]:
    """Parameters and curvatures of E = Σ ½ c ⊙ p², a convex quadratic with minimum at 0."""
    rng = np.random.default_rng(SEED)
    params = {"dense_1.w": rng.standard_normal((3, 4)), "dense_1.b": rng.standard_normal(4)}
    curvature = {k: rng.uniform(0.5, 2.0, v.shape) for k, v in params.items()}
    return {k: v.astype(dtype) for k, v in params.items()}, curvature


def _energy(params: Mapping[str, Array], curvature: Mapping[str, Array]) -> float:
    return float(sum(np.sum(0.5 * curvature[k] * params[k] ** 2) for k in params))


def _descend(optimizer: Any, steps: int, dtype: Any = np.float64) -> list[dict[str, Array]]:
    params, curvature = _quadratic(dtype)
    trajectory = []
    for _ in range(steps):
        grads = {k: (curvature[k] * v).astype(v.dtype) for k, v in params.items()}
        optimizer.update(params, grads)
        trajectory.append({k: v.copy() for k, v in params.items()})
    return trajectory


@CHECKS.check("descent")
def _descent(subject: Subject) -> None:
    params, curvature = _quadratic()
    start = _energy(params, curvature)
    trajectory = _descend(subject.fresh(), 25)
    first, last = _energy(trajectory[0], curvature), _energy(trajectory[-1], curvature)
    if not (np.isfinite(first) and np.isfinite(last) and first < start and last < start):
        raise ConformanceError(
            f"on the convex quadratic E = Σ ½ c p² the error went from {start:.6g} to "
            f"{first:.6g} after one step and {last:.6g} after 25; an update must lower it"
        )


@CHECKS.check("state")
def _state(subject: Subject) -> float:
    """Updating two parameters together must equal updating each with its own optimizer."""
    rng = np.random.default_rng(SEED)
    joint, alone_a, alone_b = subject.fresh(), subject.fresh(), subject.fresh()
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    together = {"layer_1.w": a.copy(), "layer_2.w": b.copy()}
    one, other = {"layer_1.w": a.copy()}, {"layer_2.w": b.copy()}
    for _ in range(5):
        ga, gb = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) * 3
        joint.update(together, {"layer_1.w": ga, "layer_2.w": gb})
        alone_a.update(one, {"layer_1.w": ga.copy()})
        alone_b.update(other, {"layer_2.w": gb.copy()})
    worst = 0.0
    for name, alone in (("layer_1.w", one), ("layer_2.w", other)):
        worst = max(
            worst,
            assert_close(
                together[name],
                alone[name],
                what=f"{name!r} updated together with another parameter, against on its own "
                f"(state must be kept per parameter)",
                rtol=1e-12,
                atol=1e-14,
            ),
        )
    return worst


@CHECKS.check("dtype")
def _dtype(subject: Subject) -> None:
    for dtype in DTYPES:
        optimizer = subject.fresh()
        params, curvature = _quadratic(dtype)
        originals = dict(params)
        before = {k: v.copy() for k, v in params.items()}
        grads = {k: (curvature[k] * v).astype(dtype) for k, v in params.items()}
        optimizer.update(params, grads)
        for key, value in params.items():
            if value is not originals[key]:
                raise ConformanceError(
                    f"update replaced params[{key!r}] instead of updating it in place"
                )
            expect.array(value, shape=before[key].shape, dtype=dtype, what=f"params[{key!r}]")
            expect.finite(value, f"params[{key!r}] after an update")
            if np.array_equal(value, before[key]):
                raise ConformanceError(f"update left params[{key!r}] ({dtype}) unchanged")


@CHECKS.check("mutation")
def _mutation(subject: Subject) -> None:
    optimizer = subject.fresh()
    params, curvature = _quadratic()
    grads = {k: curvature[k] * v for k, v in params.items()}
    before = {k: v.copy() for k, v in grads.items()}
    optimizer.update(params, grads)
    for key in grads:
        expect.unchanged(before[key], grads[key], f"grads[{key!r}]")


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    optimizer = subject.fresh()
    rebuilt = rebuild(subject, optimizer)
    for step, (mine, theirs) in enumerate(
        zip(_descend(optimizer, 5), _descend(rebuilt, 5), strict=True), start=1
    ):
        for key in mine:
            expect.identical(mine[key], theirs[key], f"params[{key!r}] after step {step}")
