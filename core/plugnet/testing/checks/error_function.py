"""The error-function checks, on y and t drawn from the function's ``conformance.domain``
(one of :data:`plugnet.domains.DOMAINS`; default ``"real"``). ``weights`` checks the optional
:class:`~plugnet.protocols.PerSampleError` capability where a function has it."""

from __future__ import annotations

import numpy as np

from plugnet.domains import domain_of
from plugnet.protocols import Array, PerSampleError
from plugnet.testing.checks import expect
from plugnet.testing.checks.common import DTYPES, SEED, CheckTable, Subject, rebuild
from plugnet.testing.gradients import ConformanceError, assert_close, check_vjp
from plugnet.testing.inputs import error_pair, extreme_error_pair

CHECKS = CheckTable()


@CHECKS.check("gradient")
def _gradient(subject: Subject) -> float:
    error = subject.fresh()
    rng = np.random.default_rng(SEED)
    worst = 0.0
    for rows in (1, 5):
        y, t = error_pair(domain_of(error), (rows, 4), rng)

        def value(p: Array, t: Array = t) -> Array:
            return np.array(error.forward(p, t))

        def vjp(p: Array, g: Array, t: Array = t) -> Array:
            return np.asarray(error.backward(p, t) * g)

        worst = max(
            worst,
            check_vjp(
                value,
                vjp,
                y,
                what=f"gradient dE/dy for a batch of {rows}",
                rng=rng,
            ),
        )
    return worst


@CHECKS.check("weights")
def _weights(subject: Subject) -> float | None:
    """per_sample has shape (N,) and y's dtype, its mean is forward, and backward with row i
    scaled by N w_i / Σw is the gradient of the weighted error Σ w_i e_i / Σw, as the network
    trains with weights (which also requires e_i to depend on row i only)."""
    error = subject.fresh()
    if not isinstance(error, PerSampleError):
        return None  # an optional capability: without it, the network refuses weights
    rng = np.random.default_rng(SEED)
    worst = 0.0
    for rows in (1, 5):
        y, t = error_pair(domain_of(error), (rows, 4), rng)
        for dtype in DTYPES:
            expect.array(
                error.per_sample(y.astype(dtype), t.astype(dtype)),
                shape=(rows,),
                dtype=dtype,
                what=f"per_sample for a batch of {rows} ({dtype})",
            )
        worst = max(
            worst,
            assert_close(
                np.array(np.mean(error.per_sample(y, t))),
                np.array(error.forward(y, t)),
                what=f"the mean of per_sample against forward for a batch of {rows}",
                rtol=1e-12,
                atol=1e-12,
            ),
        )
        w = rng.uniform(0.0, 2.0, rows)
        w[-1] = 0.0 if rows > 1 else w[-1]  # a zero weight, as fit allows
        scale = (rows * w / w.sum()).reshape(rows, 1)

        def value(p: Array, t: Array = t, w: Array = w) -> Array:
            return np.array(np.dot(w, error.per_sample(p, t)) / w.sum())

        def vjp(p: Array, g: Array, t: Array = t, scale: Array = scale) -> Array:
            return np.asarray(error.backward(p, t) * scale * g)

        worst = max(
            worst,
            check_vjp(
                value,
                vjp,
                y,
                what=f"weighted gradient (rows of dE/dy scaled by N w_i / Σw) for a batch "
                f"of {rows}",
                rng=rng,
            ),
        )
    return worst


@CHECKS.check("dtype")
def _dtype(subject: Subject) -> None:
    error = subject.fresh()
    y64, t64 = error_pair(domain_of(error), (5, 3), np.random.default_rng(SEED))
    for dtype in DTYPES:
        y, t = y64.astype(dtype), t64.astype(dtype)
        value = error.forward(y, t)
        if not isinstance(value, float):
            raise ConformanceError(
                f"forward returned a {type(value).__name__}, not a Python float; return "
                f"float(...) of the batch mean"
            )
        expect.array(error.backward(y, t), shape=y.shape, dtype=dtype, what=f"backward {dtype}")


@CHECKS.check("mutation")
def _mutation(subject: Subject) -> None:
    error = subject.fresh()
    y, t = error_pair(domain_of(error), (5, 3), np.random.default_rng(SEED))
    expect.untouched("forward", error.forward, y=y, t=t)
    expect.untouched("backward", error.backward, y=y, t=t)


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    error = subject.fresh()
    rebuilt = rebuild(subject, error)
    y, t = error_pair(domain_of(error), (5, 3), np.random.default_rng(SEED))
    if error.forward(y, t) != rebuilt.forward(y, t):
        raise ConformanceError("forward values of the original and the rebuilt component differ")
    expect.identical(error.backward(y, t), rebuilt.backward(y, t), "backward outputs")


@CHECKS.check("extremes")
def _extremes(subject: Subject) -> None:
    error = subject.fresh()
    y64, t64 = extreme_error_pair(domain_of(error))
    for dtype in DTYPES:
        y, t = y64.astype(dtype), t64.astype(dtype)
        value = expect.quiet(f"forward on extreme {dtype} inputs", error.forward, y, t)
        if not np.isfinite(value):
            raise ConformanceError(f"forward on extreme {dtype} inputs {y.tolist()} is {value}")
        grad = expect.quiet(f"backward on extreme {dtype} inputs", error.backward, y, t)
        expect.finite(grad, f"backward on extreme {dtype} inputs {y.tolist()}")
