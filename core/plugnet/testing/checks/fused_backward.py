"""The fused-backward checks: dE/da of an (activation, error function) pair in one step,
against the unfused chain and finite differences."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.domains import domain_of
from plugnet.protocols import Array
from plugnet.testing.checks import expect
from plugnet.testing.checks.activation import kinks
from plugnet.testing.checks.common import DTYPES, SEED, CheckTable, Subject, rebuild
from plugnet.testing.gradients import assert_close, check_vjp
from plugnet.testing.inputs import away_from_kinks, error_pair, extreme_error_pair, extreme_inputs

CHECKS = CheckTable()


def _inputs(subject: Subject, rows: int = 5) -> tuple[Any, Any, Array, Array]:
    assert subject.pair is not None
    activation, error = subject.pair
    rng = np.random.default_rng(SEED)
    a = away_from_kinks((rows, 4), kinks(activation), rng)
    _, t = error_pair(domain_of(error), (rows, 4), rng)
    return activation, error, a, t


@CHECKS.check("chain")
def _chain(subject: Subject) -> float:
    fused = subject.fresh()
    activation, error, a, t = _inputs(subject)
    y = activation.forward(a)
    fused_grad = fused.backward(y, t)
    chain = activation.backward(a, y, error.backward(y, t))
    worst = assert_close(
        fused_grad, chain, what="fused dE/da against the unfused chain", rtol=1e-5, atol=1e-7
    )
    return max(
        worst,
        check_vjp(
            lambda p: np.array(error.forward(activation.forward(p), t)),
            lambda p, g: fused.backward(activation.forward(p), t) * g,
            a,
            what="fused dE/da against finite differences",
            rng=np.random.default_rng(SEED),
        ),
    )


@CHECKS.check("dtype")
def _dtype(subject: Subject) -> None:
    fused = subject.fresh()
    activation, _, a, t = _inputs(subject)
    for dtype in DTYPES:
        y = activation.forward(a.astype(dtype))
        grad = fused.backward(y, t.astype(dtype))
        expect.array(grad, shape=a.shape, dtype=dtype, what=f"backward {dtype}")


@CHECKS.check("mutation")
def _mutation(subject: Subject) -> None:
    fused = subject.fresh()
    activation, _, a, t = _inputs(subject)
    y = activation.forward(a)
    expect.untouched("backward", fused.backward, y=y, t=t)


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    fused = subject.fresh()
    rebuilt = rebuild(subject, fused)
    activation, _, a, t = _inputs(subject)
    y = activation.forward(a)
    expect.identical(fused.backward(y, t), rebuilt.backward(y, t), "backward outputs")


@CHECKS.check("extremes")
def _extremes(subject: Subject) -> None:
    fused = subject.fresh()
    activation, error, _, _ = _inputs(subject)
    _, t64 = extreme_error_pair(domain_of(error))
    rng = np.random.default_rng(SEED)
    for dtype in DTYPES:
        a = extreme_inputs(t64.shape, rng, dtype)
        y = expect.quiet(f"the activation on ±1e4 {dtype}", activation.forward, a)
        expect.quiet_and_finite(
            f"backward on ±1e4 {dtype} inputs", fused.backward, y, t64.astype(dtype)
        )
