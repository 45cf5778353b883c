"""The activation checks. An activation may declare kinks (``conformance.kinks``), the x where
its derivative jumps; gradients are checked away from them. The ``onnx`` check (its ONNX
lowering against its forward) is in :mod:`plugnet.testing.checks.lowering`."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.protocols import conformance_of
from plugnet.testing.checks import expect, lowering
from plugnet.testing.checks.common import DTYPES, SEED, CheckTable, Subject, rebuild
from plugnet.testing.gradients import check_vjp
from plugnet.testing.inputs import away_from_kinks, extreme_inputs

CHECKS = CheckTable()


def kinks(activation: Any) -> list[float]:
    """The x where ``activation`` declares that its derivative jumps."""
    return conformance_of(activation).kinks_of(activation)


@CHECKS.check("gradient")
def _gradient(subject: Subject) -> float:
    activation = subject.fresh()
    rng = np.random.default_rng(SEED)
    return max(
        check_vjp(
            activation.forward,
            lambda p, g: activation.backward(p, activation.forward(p), g),
            away_from_kinks(shape, kinks(activation), rng),
            what=f"input gradient at {shape}",
            rng=rng,
        )
        for shape in ((3, 4), (16, 40))
    )


@CHECKS.check("dtype")
def _dtype(subject: Subject) -> None:
    activation = subject.fresh()
    rng = np.random.default_rng(SEED)
    for dtype in DTYPES:
        for shape in ((3, 5), (2, 3, 4)):
            x = away_from_kinks(shape, kinks(activation), rng).astype(dtype)
            y = activation.forward(x)
            expect.array(y, shape=x.shape, dtype=dtype, what=f"forward of {shape} {dtype}")
            dx = activation.backward(x, y, np.ones_like(y))
            expect.array(dx, shape=x.shape, dtype=dtype, what=f"backward of {shape} {dtype}")


@CHECKS.check("mutation")
def _mutation(subject: Subject) -> None:
    activation = subject.fresh()
    rng = np.random.default_rng(SEED)
    x = away_from_kinks((4, 6), kinks(activation), rng)
    y = expect.untouched("forward", activation.forward, x=x)
    g = rng.standard_normal(y.shape)
    expect.untouched("backward", activation.backward, x=x, y=y, grad=g)


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    activation = subject.fresh()
    rebuilt = rebuild(subject, activation)
    x = away_from_kinks((4, 6), kinks(activation), np.random.default_rng(SEED))
    g = np.random.default_rng(SEED + 1).standard_normal(x.shape)
    y, y2 = activation.forward(x), rebuilt.forward(x)
    expect.identical(y, y2, "forward outputs of the original and the rebuilt component")
    expect.identical(
        activation.backward(x, y, g),
        rebuilt.backward(x, y2, g),
        "backward outputs of the original and the rebuilt component",
    )


@CHECKS.check("extremes")
def _extremes(subject: Subject) -> None:
    activation = subject.fresh()
    rng = np.random.default_rng(SEED)
    for dtype in DTYPES:
        x = extreme_inputs((4, 10), rng, dtype)
        y = expect.quiet_and_finite(f"forward on ±1e4 {dtype} inputs", activation.forward, x)
        expect.quiet_and_finite(
            f"backward on ±1e4 {dtype} inputs", activation.backward, x, y, np.ones_like(y)
        )


ONNX_SHAPE = (4, 10)


@CHECKS.check("onnx")
def _onnx(subject: Subject) -> float:
    activation = subject.fresh()

    def example(dtype: np.dtype[Any]) -> lowering.Example:
        from plugnet.network import Model

        rng = np.random.default_rng(SEED)
        x = np.concatenate(
            [
                away_from_kinks(ONNX_SHAPE, kinks(activation), rng).astype(dtype),
                extreme_inputs(ONNX_SHAPE, rng, dtype),
            ]
        )
        layer = {"type": "activation", "activation": activation}
        model = Model([layer], error="mse", dtype=dtype, seed=SEED)
        model.build(ONNX_SHAPE[1:])
        return model, [x], activation.forward(x), x

    return lowering.check(subject, example, "random and ±1e4")
