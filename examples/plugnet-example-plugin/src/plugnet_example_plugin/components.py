"""The example plugin's components: plain classes with ``forward``, ``backward`` and
``get_config``. NumPy is all they compute with; from plugnet they import only
:class:`~plugnet.protocols.Conformance`, which declares what the conformance suite checks.

Both keep the input's floating dtype (float32 in, float32 out), never modify their inputs and
stay finite for inputs as large as ±1e4 (and far beyond).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from plugnet.protocols import Conformance

Array = npt.NDArray[Any]


class SquarePlus:
    """Squareplus (So, 2021): y = (x + √(x² + b)) / 2; dy/dx = (1 + x/√(x² + b)) / 2.

    Equivalently dy/dx = y / √(x² + b), which is how ``backward`` computes it.

    A smooth, cheap approximation of ReLU (``b`` → 0 gives ReLU; the default is b = 4).

    Numerics: √(x² + b) is computed as hypot(x, √b), which cannot overflow, and for x < 0 the
    cancellation in x + √(x² + b) is avoided by the equivalent form y = b / (2 (√(x² + b) − x)),
    evaluated as (b/4) / (√(x² + b)/2 − x/2) so that nothing overflows.
    """

    # The configurations the plugnet conformance suite checks: the default and two others.
    conformance = Conformance(
        cases=({"config": {}}, {"config": {"b": 1.0}}, {"config": {"b": 0.25}})
    )

    def __init__(self, b: float = 4.0) -> None:
        b = float(b)
        if not (math.isfinite(b) and b > 0.0):
            raise ValueError(f"squareplus needs a finite b > 0, got b={b!r}")
        self.b = b

    def forward(self, x: Array) -> Array:
        h = np.hypot(x, math.sqrt(self.b))  # √(x² + b)
        # where= leaves the other branch unevaluated, so neither branch can warn or overflow.
        y = np.empty_like(h)
        positive = x >= 0
        np.add(0.5 * x, 0.5 * h, out=y, where=positive)
        np.divide(0.25 * self.b, 0.5 * h - 0.5 * x, out=y, where=~positive)
        return y

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        """dE/dx = dE/dy · y / √(x² + b)."""
        h = np.hypot(x, math.sqrt(self.b))
        return grad * (y / h)

    def get_config(self) -> dict[str, Any]:
        return {"b": self.b}

    def __repr__(self) -> str:
        return f"SquarePlus(b={self.b!r})"


def lower_square_plus(activation: SquarePlus, graph: Any, inputs: list[str]) -> str:
    """SquarePlus as ONNX nodes, with the forward's safeguards: √(x² + b) as
    a·√((x/a)² + (√b/a)²) with a = max(|x|, √b) (a hypot that cannot overflow), and for x < 0
    the form (b/4) / (√(x² + b)/2 − x/2). ``graph`` is plugnet's ``OnnxGraph``."""
    (x,) = inputs
    root_b = graph.constant(math.sqrt(activation.b), "root_b")
    half = graph.constant(0.5, "half")
    a = graph.node("Max", [graph.node("Abs", [x]), root_b])
    ratio_x, ratio_b = graph.node("Div", [x, a]), graph.node("Div", [root_b, a])
    squares = graph.node(
        "Add", [graph.node("Mul", [ratio_x, ratio_x]), graph.node("Mul", [ratio_b, ratio_b])]
    )
    h = graph.node("Mul", [a, graph.node("Sqrt", [squares])], hint="hypot")
    positive = graph.node("Mul", [half, graph.node("Add", [x, h])])
    quarter_b = graph.constant(0.25 * activation.b, "quarter_b")
    negative = graph.node("Div", [quarter_b, graph.node("Mul", [half, graph.node("Sub", [h, x])])])
    is_positive = graph.node("GreaterOrEqual", [x, graph.constant(0.0, "zero")])
    return str(graph.node("Where", [is_positive, positive, negative], hint="square_plus"))


def _matching_target(y: Array, t: Array) -> Array:
    t = np.asarray(t)
    if t.shape != y.shape:
        raise ValueError(f"targets have shape {t.shape} but outputs have shape {y.shape}")
    return t.astype(y.dtype, copy=False)


class LogCosh:
    """Log-cosh error: E = (1/N) Σ_i Σ_k log cosh(y_ik − t_ik); dE/dy = tanh(y − t) / N.

    Behaves like ½ d² for small d = y − t and like |d| − log 2 for large d, so it is robust to
    outliers. N is the batch size (axis 0).

    Numerics: log cosh d = |d| + log1p(e^(−2|d|)) − log 2, evaluated as |d| + log1p(m + m²/2)
    with m = expm1(−|d|) (the same quantity, since (1 + e^(−2|d|))/2 = 1 + m + m²/2). Nothing
    can overflow, and small residuals keep their precision instead of cancelling against
    log 2. E is a Python float, so it is summed in float64; dE/dy keeps y's dtype.
    """

    def forward(self, y: Array, t: Array) -> float:
        d = np.abs(np.subtract(y, _matching_target(y, t), dtype=np.float64))
        m = np.expm1(-d)
        per_element = d + np.log1p(m + 0.5 * m * m)
        return float(np.sum(per_element) / y.shape[0])

    def backward(self, y: Array, t: Array) -> Array:
        grad: Array = np.tanh(y - _matching_target(y, t)) / y.shape[0]
        return grad

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return "LogCosh()"
