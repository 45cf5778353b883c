"""Activation functions. Each ``backward(x, y, grad)`` returns dE/dx = (dy/dx)ᵀ · dE/dy.

Every activation keeps the input's dtype (constants are Python floats, which NumPy 2 treats as
weak scalars), never changes its input, and stays finite and warning-free for inputs as large as
±1e4 in float32 and float64: exponentials are taken of clipped or non-positive arguments only, and
log(1 + eˣ) is always ``logaddexp(0, x)``. Where a derivative does not exist (a kink), the
docstring says which value ``backward`` uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance
from plugnet_builtins import _erf
from plugnet_builtins._erf import normal_cdf

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_EXP_CAP = 20.0  # tanh(e^20) == 1 exactly in float32 and float64


def _sigmoid(x: Array) -> Array:
    """1 / (1 + e^-x) as (1 + tanh(x/2)) / 2: equal to it and never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x: Array) -> Array:
    """log(1 + eˣ), through logaddexp."""
    return np.logaddexp(0.0, x)


class Identity(Configurable):
    """Identity: y = x; dy/dx = 1."""

    def forward(self, x: Array) -> Array:
        return x

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad


class Step(Configurable):
    """Heaviside step: y = 1 for x > 0, else 0 (so step(0) = 0).

    dy/dx = 0 everywhere, the jump at 0 included: the gradient is zero everywhere.
    """

    conformance = Conformance(kinks=(0.0,))

    def forward(self, x: Array) -> Array:
        return (x > 0).astype(x.dtype)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return np.zeros_like(grad)


class BentIdentity(Configurable):
    """Bent identity: y = (√(x² + 1) − 1)/2 + x; dy/dx = x / (2√(x² + 1)) + 1."""

    def forward(self, x: Array) -> Array:
        return 0.5 * (np.hypot(x, 1.0) - 1.0) + x

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * (0.5 * x / np.hypot(x, 1.0) + 1.0)


class _Shrinkage(Configurable):
    """What hard and soft shrinkage share: λ, the kinks at ±λ and dy/dx = [|x| > λ]."""

    def __init__(self, lambd: float = 0.5) -> None:
        self.lambd = lambd

    conformance = Conformance(kinks=lambda self: (-self.lambd, self.lambd))
    # The subclasses add their cases to these kinks.

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * (np.abs(x) > self.lambd)


class HardShrink(_Shrinkage):
    """Hard shrinkage: y = x for |x| > λ, else 0; dy/dx = 1 for |x| > λ, else 0.

    Kinks (jumps) at x = ±λ, where y = 0 and the derivative used is 0.
    """

    conformance = Conformance(
        cases=({"config": {}}, {"config": {"lambd": 1.0}}), kinks=_Shrinkage.conformance.kinks
    )

    def forward(self, x: Array) -> Array:
        return x * (np.abs(x) > self.lambd)


class SoftShrink(_Shrinkage):
    """Soft shrinkage: y = x − λ for x > λ, x + λ for x < −λ, else 0 (= sign(x)·max(|x| − λ, 0));
    dy/dx = 1 for |x| > λ, else 0.

    Kinks at x = ±λ, where the derivative used is 0.
    """

    conformance = Conformance(
        cases=({"config": {}}, {"config": {"lambd": 0.25}}), kinks=_Shrinkage.conformance.kinks
    )

    def forward(self, x: Array) -> Array:
        return np.sign(x) * np.maximum(np.abs(x) - self.lambd, 0.0)


class Threshold(Configurable):
    """Threshold (PyTorch semantics): y = x for x > threshold, else value;
    dy/dx = 1 for x > threshold, else 0.

    At x = threshold, y = value and the derivative used is 0.
    """

    conformance = Conformance(
        cases=(
            {"config": {}},
            {"config": {"threshold": 0.5, "value": -2.0}},
        ),
        kinks=lambda self: (self.threshold,),
    )

    def __init__(self, threshold: float = 0.0, value: float = 0.0) -> None:
        self.threshold = threshold
        self.value = value

    def forward(self, x: Array) -> Array:
        return np.where(x > self.threshold, x, x.dtype.type(self.value))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * (x > self.threshold)


class Sigmoid(Configurable):
    """Logistic sigmoid: y = 1 / (1 + e^-x); dy/dx = y (1 − y).

    Computed as (1 + tanh(x/2)) / 2, which equals it exactly and never overflows.
    """

    def forward(self, x: Array) -> Array:
        return _sigmoid(x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * y * (1.0 - y)


class HardSigmoid(Configurable):
    """Hard sigmoid: y = clip(0.2x + 0.5, 0, 1); dy/dx = 0.2 for |x| < 2.5, else 0.

    Kinks at x = ±2.5, where the derivative used is 0.
    """

    conformance = Conformance(kinks=(-2.5, 2.5))

    def forward(self, x: Array) -> Array:
        return np.clip(0.2 * x + 0.5, 0.0, 1.0)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * (np.abs(x) < 2.5) * 0.2


class LogSigmoid(Configurable):
    """Log-sigmoid: y = log(1 / (1 + e^-x)) = −log(1 + e^-x); dy/dx = 1 − sigmoid(x) = 1 − eʸ.

    Computed as −logaddexp(0, −x); the derivative as −expm1(y).
    """

    def forward(self, x: Array) -> Array:
        return -_softplus(-x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * -np.expm1(y)


class Tanh(Configurable):
    """Hyperbolic tangent: y = tanh(x); dy/dx = 1 − y²."""

    def forward(self, x: Array) -> Array:
        return np.tanh(x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * (1.0 - y * y)


class TanhShrink(Configurable):
    """Tanh shrink: y = x − tanh(x); dy/dx = tanh²(x) = (x − y)²."""

    def forward(self, x: Array) -> Array:
        return x - np.tanh(x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        t = np.tanh(x)
        return grad * (t * t)


class HardTanh(Configurable):
    """Hard tanh: y = clip(x, min_val, max_val); dy/dx = 1 for min_val < x < max_val, else 0.

    Kinks at min_val and max_val, where the derivative used is 0.
    """

    conformance = Conformance(
        cases=(
            {"config": {}},
            {"config": {"min_val": -2.0, "max_val": 0.5}},
        ),
        kinks=lambda self: (self.min_val, self.max_val),
    )

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, x: Array) -> Array:
        return np.clip(x, self.min_val, self.max_val)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * ((x > self.min_val) & (x < self.max_val))


class ReLU(Configurable):
    """Rectified linear unit: y = max(0, x); dy/dx = 1 for x > 0, else 0 (0 at the kink)."""

    conformance = Conformance(kinks=(0.0,))

    def forward(self, x: Array) -> Array:
        # clip, not np.maximum(x, 0): NumPy 2.4's maximum against a scalar takes a slow path
        # (25 µs against clip's 8 µs on (128, 256) float32, a hot spot of every MLP step).
        return x.clip(0, np.inf)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * (x > 0)


class ReLU6(Configurable):
    """ReLU capped at 6: y = min(max(0, x), 6); dy/dx = 1 for 0 < x < 6, else 0.

    Kinks at 0 and 6, where the derivative used is 0.
    """

    conformance = Conformance(kinks=(0.0, 6.0))

    def forward(self, x: Array) -> Array:
        return np.clip(x, 0.0, 6.0)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * ((x > 0) & (x < 6))


class LeakyReLU(Configurable):
    """Leaky ReLU: y = x for x > 0, else αx; dy/dx = 1 for x > 0, else α (α at the kink x = 0)."""

    conformance = Conformance(cases=({"config": {}}, {"config": {"alpha": 0.2}}), kinks=(0.0,))

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = alpha

    def forward(self, x: Array) -> Array:
        return np.where(x > 0, x, self.alpha * x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return np.where(x > 0, grad, self.alpha * grad)


class ELU(Configurable):
    """Exponential linear unit: y = x for x > 0, else α(eˣ − 1);
    dy/dx = 1 for x > 0, else αeˣ = y + α.

    At x = 0 the derivative used is α (the left limit; for α = 1 it is continuous). The
    exponential is taken of min(x, 0), so it never overflows.
    """

    conformance = Conformance(cases=({"config": {}}, {"config": {"alpha": 0.5}}), kinks=(0.0,))

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def forward(self, x: Array) -> Array:
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0.0)))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * np.where(x > 0, 1.0, y + self.alpha)


class SELU(Configurable):
    """Scaled ELU: y = λx for x > 0, else λα(eˣ − 1); dy/dx = λ for x > 0, else λαeˣ = y + λα,
    with λ = 1.0507009873554805 and α = 1.6732632423543772 (Klambauer et al., 2017).

    At x = 0 the derivative used is λα (the left limit).
    """

    conformance = Conformance(kinks=(0.0,))

    scale = 1.0507009873554805
    alpha = 1.6732632423543772

    def forward(self, x: Array) -> Array:
        negative = (self.scale * self.alpha) * np.expm1(np.minimum(x, 0.0))
        return np.where(x > 0, self.scale * x, negative)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * np.where(x > 0, self.scale, y + self.scale * self.alpha)


class CELU(Configurable):
    """Continuously differentiable ELU: y = max(0, x) + min(0, α(e^(x/α) − 1));
    dy/dx = 1 for x > 0, else e^(x/α) (= 1 at x = 0, so no kink). α must not be 0.
    """

    conformance = Conformance(cases=({"config": {}}, {"config": {"alpha": 2.0}}))

    def __init__(self, alpha: float = 1.0) -> None:
        if alpha == 0:
            raise ValueError("celu needs alpha != 0")
        self.alpha = alpha

    def forward(self, x: Array) -> Array:
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0.0) / self.alpha))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / self.alpha))


def _softmax(x: Array) -> Array:
    e = x - x.max(axis=-1, keepdims=True)
    np.exp(e, out=e)  # in place: the output is the only array this allocates besides the sums
    e /= e.sum(axis=-1, keepdims=True)
    return e


class Softmax(Configurable):
    """Softmax over the last axis: y_k = e^(x_k − max x) / Σ_j e^(x_j − max x).

    The Jacobian is diag(y) − y yᵀ, so the vector-Jacobian product is
    dE/dx = y ⊙ (g − Σ_k g_k y_k) with g = dE/dy.
    """

    def forward(self, x: Array) -> Array:
        return _softmax(x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return y * (grad - np.sum(grad * y, axis=-1, keepdims=True))


class Softmin(Configurable):
    """Softmin over the last axis: y = softmax(−x).

    The Jacobian is −(diag(y) − y yᵀ), so dE/dx = −y ⊙ (g − Σ_k g_k y_k) with g = dE/dy.
    """

    def forward(self, x: Array) -> Array:
        return _softmax(-x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return y * (np.sum(grad * y, axis=-1, keepdims=True) - grad)


class LogSoftmax(Configurable):
    """Log-softmax over the last axis: y_k = x_k − m − log Σ_j e^(x_j − m), m = max x.

    The Jacobian is I − 1 softmax(x)ᵀ, so dE/dx = g − softmax(x) Σ_k g_k, with softmax(x) = eʸ.
    """

    def forward(self, x: Array) -> Array:
        shifted = x - np.max(x, axis=-1, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad - np.exp(y) * np.sum(grad, axis=-1, keepdims=True)


class Softplus(Configurable):
    """Softplus (PyTorch semantics): y = log(1 + e^(βx)) / β for βx ≤ threshold, else x;
    dy/dx = sigmoid(βx) for βx ≤ threshold, else 1.

    Computed as logaddexp(0, βx) / β. Above the threshold the function is the identity, so the
    derivative used there is 1 (the jump in value at the threshold is below e^−threshold).
    """

    conformance = Conformance(
        cases=(
            {"config": {}},
            {"config": {"beta": 2.0, "threshold": 3.0}},
        ),
        kinks=lambda self: (self.threshold / self.beta,),
    )

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Array) -> Array:
        bx = self.beta * x
        return np.where(bx > self.threshold, x, _softplus(bx) / self.beta)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        bx = self.beta * x
        return grad * np.where(bx > self.threshold, 1.0, _sigmoid(bx))


class Softsign(Configurable):
    """Softsign: y = x / (1 + |x|); dy/dx = 1 / (1 + |x|)²."""

    # |x| makes the second derivative jump
    conformance = Conformance(kinks=(0.0,))

    def forward(self, x: Array) -> Array:
        return x / (1.0 + np.abs(x))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        d = 1.0 + np.abs(x)
        return grad / (d * d)


class Swish(Configurable):
    """Swish: y = x·sigmoid(βx) (SiLU for β = 1); dy/dx = s + βy(1 − s) with s = sigmoid(βx)."""

    conformance = Conformance(cases=({"config": {}}, {"config": {"beta": 1.7}}))

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = beta

    def forward(self, x: Array) -> Array:
        return x * _sigmoid(self.beta * x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        s = _sigmoid(self.beta * x)
        return grad * (s + self.beta * y * (1.0 - s))


class Mish(Configurable):
    """Mish: y = x·tanh(softplus(x)); dy/dx = t + x(1 − t²)·sigmoid(x) with t = tanh(softplus(x)).

    softplus is logaddexp(0, x), so nothing overflows.
    """

    def forward(self, x: Array) -> Array:
        return x * np.tanh(_softplus(x))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        t = np.tanh(_softplus(x))
        return grad * (t + x * (1.0 - t * t) * _sigmoid(x))


class TanhExp(Configurable):
    """TanhExp: y = x·tanh(eˣ); dy/dx = t + x·eˣ(1 − t²) with t = tanh(eˣ).

    eˣ is taken of min(x, 20): tanh(e^20) is exactly 1 in float32 and float64, so the value is
    unchanged and nothing overflows.
    """

    def forward(self, x: Array) -> Array:
        return x * np.tanh(np.exp(np.minimum(x, _EXP_CAP)))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        e = np.exp(np.minimum(x, _EXP_CAP))
        t = np.tanh(e)
        return grad * (t + x * e * (1.0 - t * t))


class GELU(Configurable):
    """Gaussian error linear unit.

    ``approximate="none"``: y = x·Φ(x), Φ(x) = ½(1 + erf(x/√2)); dy/dx = Φ(x) + x·φ(x),
    φ(x) = e^(−x²/2)/√(2π). NumPy has no erf. For float64, Φ comes from erf's Taylor series for
    |x/√2| < 2.5 and erfc's continued fraction beyond (within 1.5e-15 absolute of ``math.erf``,
    erfc within 6e-14 relative); for float32, from Abramowitz & Stegun 7.1.26 (absolute error
    ≤ 1.5e-7, float32's resolution), which is about 40 times faster.

    ``approximate="tanh"``: y = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³);
    dy/dx = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).
    """

    conformance = Conformance(
        cases=(
            {"config": {}},
            {"config": {"approximate": "tanh"}},
        )
    )

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu approximate must be 'none' or 'tanh', not {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Array) -> Array:
        if self.approximate == "tanh":
            return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
        return x * normal_cdf(x).astype(x.dtype, copy=False)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        if self.approximate == "tanh":
            x2 = x * x
            t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x2 * x))
            du = _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x2)
            return grad * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
        density = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return grad * (normal_cdf(x) + x * density).astype(x.dtype, copy=False)


class HardSwish(Configurable):
    """Hard swish: y = x·relu6(x + 3)/6; dy/dx = 0 for x ≤ −3, (2x + 3)/6 for −3 < x < 3,
    1 for x ≥ 3.

    Kinks at x = ±3: the derivative used is 0 at −3 and 1 at 3 (the outer pieces).
    """

    conformance = Conformance(kinks=(-3.0, 3.0))

    def forward(self, x: Array) -> Array:
        return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        slope = np.where(x >= 3.0, 1.0, (2.0 * x + 3.0) / 6.0)
        return grad * np.where(x > -3.0, slope, 0.0)


@hookimpl
def register_activations(register: Register) -> None:
    register(Identity, name="identity", aliases=("linear",))
    register(Step, name="step", aliases=("heaviside", "binary_step"))
    register(BentIdentity, name="bent_identity")
    register(HardShrink, name="hard_shrink")
    register(SoftShrink, name="soft_shrink")
    register(Threshold, name="threshold")
    register(Sigmoid, name="sigmoid", aliases=("logistic",))
    register(HardSigmoid, name="hard_sigmoid")
    register(LogSigmoid, name="log_sigmoid")
    register(Tanh, name="tanh")
    register(TanhShrink, name="tanh_shrink")
    register(HardTanh, name="hard_tanh")
    register(ReLU, name="relu")
    register(ReLU6, name="relu6")
    register(LeakyReLU, name="leaky_relu", aliases=("lrelu",))
    register(ELU, name="elu")
    register(SELU, name="selu")
    register(CELU, name="celu")
    register(Softmax, name="softmax")
    register(Softmin, name="softmin")
    register(LogSoftmax, name="log_softmax")
    register(Softplus, name="softplus")
    register(Softsign, name="softsign")
    register(Swish, name="swish", aliases=("silu",))
    register(Mish, name="mish")
    register(TanhExp, name="tanh_exp")
    register(GELU, name="gelu")
    register(HardSwish, name="hard_swish")


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------
#
# Each lowering uses opset-17 operators that ONNX Runtime implements in float32 and float64
# (it has no float64 Softplus, Softsign, HardSigmoid or Erf, and its float64 Shrink is off by
# 5e-8, so those are composed), and keeps the forward's guards against overflow: exponentials
# of clipped or non-positive arguments only.


def _operator(op_type: str, **attributes: Any) -> Callable[[Any, OnnxGraph, Sequence[str]], str]:
    """The lowering of an activation that is one ONNX operator with fixed attributes."""

    def lower(activation: Any, graph: OnnxGraph, inputs: Sequence[str]) -> str:
        return str(graph.node(op_type, inputs, hint=op_type.lower(), **attributes))

    lower.__name__ = lower.__qualname__ = f"lower_{op_type.lower()}"
    return lower


class _Ops:
    """Arithmetic on ONNX values for the composed lowerings: each method adds one node and
    returns its output's name; floats become constants in the model's dtype."""

    def __init__(self, graph: OnnxGraph) -> None:
        self.graph = graph

    def value(self, operand: str | float) -> str:
        if isinstance(operand, str):
            return operand
        return self.graph.constant(np.array(operand), "c")

    def op(self, op_type: str, *operands: str | float, **attributes: Any) -> str:
        names = [self.value(operand) for operand in operands]
        return str(self.graph.node(op_type, names, hint=op_type.lower(), **attributes))

    def add(self, a: str | float, b: str | float) -> str:
        return self.op("Add", a, b)

    def sub(self, a: str | float, b: str | float) -> str:
        return self.op("Sub", a, b)

    def mul(self, a: str | float, b: str | float) -> str:
        return self.op("Mul", a, b)

    def div(self, a: str | float, b: str | float) -> str:
        return self.op("Div", a, b)

    def min(self, a: str | float, b: str | float) -> str:
        return self.op("Min", a, b)

    def max(self, a: str | float, b: str | float) -> str:
        return self.op("Max", a, b)

    def clip(self, x: str, low: float, high: float) -> str:
        return self.op("Clip", x, low, high)

    def where(self, condition: str, a: str | float, b: str | float) -> str:
        return self.op("Where", condition, a, b)

    def greater(self, x: str, bound: float) -> str:
        return self.op("Greater", x, bound)

    def log1p(self, u: str) -> str:
        """log(1 + u) to a few ulps for u > −1: log(w)·u/(w − 1) with w = 1 + u (the rounding
        of w cancels, Goldberg's trick), u itself where w rounds to 1."""
        w = self.add(u, 1.0)
        ratio = self.div(self.mul(self.op("Log", w), u), self.sub(w, 1.0))
        return self.where(self.op("Equal", w, 1.0), u, ratio)

    def softplus(self, x: str) -> str:
        """log(1 + eˣ) as max(x, 0) + log1p(e^−|x|), which never overflows."""
        tail = self.log1p(self.op("Exp", self.op("Neg", self.op("Abs", x))))
        return self.add(self.max(x, 0.0), tail)

    def expm1_nonpositive(self, x: str) -> str:
        """eˣ − 1 of min(x, 0): the exponential never overflows. Exp − 1 is off from expm1 by
        an ulp of 1 near 0, an absolute error within the export's tolerance."""
        return self.sub(self.op("Exp", self.min(x, 0.0)), 1.0)


def _lower_step(activation: Step, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops = _Ops(graph)
    return ops.op("Cast", ops.greater(inputs[0], 0.0), to=graph.float_type)


def _lower_bent_identity(activation: BentIdentity, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    # √(x² + 1) as |x|·√(1 + 1/x²) beyond |x| = 1, so that x² cannot overflow
    ops, x = _Ops(graph), inputs[0]
    a = ops.op("Abs", x)
    big = ops.max(a, 1.0)
    small = ops.min(a, 1.0)
    ratio = ops.div(small, big)
    hypot = ops.mul(big, ops.op("Sqrt", ops.add(ops.mul(ratio, ratio), 1.0)))
    return ops.add(ops.mul(ops.sub(hypot, 1.0), 0.5), x)


def _lower_hard_shrink(activation: HardShrink, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    # Where, not ONNX Shrink, which ONNX Runtime computes off by 5e-8 in float64.
    ops, x = _Ops(graph), inputs[0]
    return ops.where(ops.greater(ops.op("Abs", x), float(activation.lambd)), x, 0.0)


def _lower_soft_shrink(activation: SoftShrink, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    excess = ops.max(ops.sub(ops.op("Abs", x), float(activation.lambd)), 0.0)
    return ops.mul(ops.op("Sign", x), excess)


def _lower_threshold(activation: Threshold, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    return ops.where(ops.greater(x, float(activation.threshold)), x, float(activation.value))


def _lower_hard_sigmoid(activation: HardSigmoid, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    # composed: ONNX Runtime has no float64 HardSigmoid
    ops = _Ops(graph)
    return ops.clip(ops.add(ops.mul(inputs[0], 0.2), 0.5), 0.0, 1.0)


def _lower_log_sigmoid(activation: LogSigmoid, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops = _Ops(graph)
    return ops.op("Neg", ops.softplus(ops.op("Neg", inputs[0])))


def _lower_tanh_shrink(activation: TanhShrink, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    return ops.sub(x, ops.op("Tanh", x))


def _lower_hard_tanh(activation: HardTanh, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    return _Ops(graph).clip(inputs[0], float(activation.min_val), float(activation.max_val))


def _lower_relu6(activation: ReLU6, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    return _Ops(graph).clip(inputs[0], 0.0, 6.0)


def _lower_leaky_relu(activation: LeakyReLU, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    # Where, not ONNX LeakyRelu, which takes x < 0 for x ≤ 0 but is the same at 0: written so
    # that an α > 1 matches the forward too.
    ops, x = _Ops(graph), inputs[0]
    return ops.where(ops.greater(x, 0.0), x, ops.mul(x, float(activation.alpha)))


def _lower_elu(activation: ELU, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    negative = ops.mul(ops.expm1_nonpositive(x), float(activation.alpha))
    return ops.where(ops.greater(x, 0.0), x, negative)


def _lower_selu(activation: SELU, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    negative = ops.mul(ops.expm1_nonpositive(x), SELU.scale * SELU.alpha)
    return ops.where(ops.greater(x, 0.0), ops.mul(x, SELU.scale), negative)


def _lower_celu(activation: CELU, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x, alpha = _Ops(graph), inputs[0], float(activation.alpha)
    scaled = ops.div(ops.min(x, 0.0), alpha)
    negative = ops.mul(ops.sub(ops.op("Exp", scaled), 1.0), alpha)
    return ops.where(ops.greater(x, 0.0), x, negative)


def _lower_softmin(activation: Softmin, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops = _Ops(graph)
    return ops.op("Softmax", ops.op("Neg", inputs[0]), axis=-1)


def _lower_softplus(activation: Softplus, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x, beta = _Ops(graph), inputs[0], float(activation.beta)
    bx = ops.mul(x, beta)
    soft = ops.div(ops.softplus(bx), beta)
    return ops.where(ops.greater(bx, float(activation.threshold)), x, soft)


def _lower_softsign(activation: Softsign, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    # composed: ONNX Runtime has no float64 Softsign
    ops, x = _Ops(graph), inputs[0]
    return ops.div(x, ops.add(ops.op("Abs", x), 1.0))


def _lower_swish(activation: Swish, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    return ops.mul(x, ops.op("Sigmoid", ops.mul(x, float(activation.beta))))


def _lower_mish(activation: Mish, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    return ops.mul(x, ops.op("Tanh", ops.softplus(x)))


def _lower_tanh_exp(activation: TanhExp, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    return ops.mul(x, ops.op("Tanh", ops.op("Exp", ops.min(x, _EXP_CAP))))


def _lower_gelu(activation: GELU, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    # ONNX Gelu is opset 20, so composed: x·Φ(x), or the tanh form.
    ops, x = _Ops(graph), inputs[0]
    if activation.approximate == "tanh":
        cube = ops.mul(ops.mul(ops.mul(x, x), x), 0.044715)
        inner = ops.mul(ops.add(x, cube), _SQRT_2_OVER_PI)
        return ops.mul(ops.mul(x, 0.5), ops.add(ops.op("Tanh", inner), 1.0))
    if graph.dtype != np.float64:  # ONNX Erf is within float32's resolution of the forward's Φ
        cdf = ops.mul(ops.add(ops.op("Erf", ops.mul(x, 1.0 / math.sqrt(2.0))), 1.0), 0.5)
        return ops.mul(x, cdf)
    return ops.mul(x, _normal_cdf_float64(ops, x))


def _normal_cdf_float64(ops: _Ops, x: str) -> str:
    """Φ(x) in float64 by the forward's own method (``_erf.erf_and_erfc``): ONNX Runtime has no
    float64 Erf. erf(z) by its series for z = |x|/√2 < 2.5 (summed by Horner), erfc(z) by its
    continued fraction beyond; Φ from the side where it does not cancel."""
    z = ops.mul(ops.op("Abs", x), 1.0 / _erf._SQRT_2)
    small = ops.min(z, _erf._ERF_SPLIT)
    z2 = ops.mul(small, small)
    coefficients = [1.0]  # 2ⁿ / (1·3·…·(2n+1))
    for n in range(1, _erf._SERIES_TERMS):
        coefficients.append(coefficients[-1] * 2.0 / (2 * n + 1))
    series: str | float = coefficients[-1]
    for coefficient in reversed(coefficients[:-1]):
        series = ops.add(ops.mul(series, z2), coefficient)
    erf_small = ops.mul(ops.mul(ops.op("Exp", ops.op("Neg", z2)), small), series)
    erf_small = ops.mul(erf_small, 2.0 / _erf._SQRT_PI)
    large = ops.max(z, _erf._ERF_SPLIT)
    fraction = large
    for k in range(_erf._FRACTION_DEPTH, 0, -1):
        fraction = ops.add(large, ops.div(0.5 * k, fraction))
    decay = ops.op("Exp", ops.op("Neg", ops.mul(large, large)))
    erfc_large = ops.div(decay, ops.mul(fraction, _erf._SQRT_PI))
    erfc = ops.where(ops.op("Less", z, _erf._ERF_SPLIT), ops.sub(1.0, erf_small), erfc_large)
    half_erfc = ops.mul(erfc, 0.5)
    return ops.where(ops.op("GreaterOrEqual", x, 0.0), ops.sub(1.0, half_erfc), half_erfc)


def _lower_hard_swish(activation: HardSwish, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    ops, x = _Ops(graph), inputs[0]
    return ops.div(ops.mul(x, ops.clip(ops.add(x, 3.0), 0.0, 6.0)), 6.0)


def _lower_log_softmax(activation: LogSoftmax, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    return str(graph.node("LogSoftmax", inputs, hint="log_softmax", axis=-1))


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    register(_operator("Identity"), "plugnet:identity")
    register(_operator("Relu"), "plugnet:relu")
    register(_operator("Sigmoid"), "plugnet:sigmoid")
    register(_operator("Tanh"), "plugnet:tanh")
    register(_operator("Softmax", axis=-1), "plugnet:softmax")
    register(_lower_step, "plugnet:step")
    register(_lower_bent_identity, "plugnet:bent_identity")
    register(_lower_hard_shrink, "plugnet:hard_shrink")
    register(_lower_soft_shrink, "plugnet:soft_shrink")
    register(_lower_threshold, "plugnet:threshold")
    register(_lower_hard_sigmoid, "plugnet:hard_sigmoid")
    register(_lower_log_sigmoid, "plugnet:log_sigmoid")
    register(_lower_tanh_shrink, "plugnet:tanh_shrink")
    register(_lower_hard_tanh, "plugnet:hard_tanh")
    register(_lower_relu6, "plugnet:relu6")
    register(_lower_leaky_relu, "plugnet:leaky_relu")
    register(_lower_elu, "plugnet:elu")
    register(_lower_selu, "plugnet:selu")
    register(_lower_celu, "plugnet:celu")
    register(_lower_softmin, "plugnet:softmin")
    register(_lower_log_softmax, "plugnet:log_softmax")
    register(_lower_softplus, "plugnet:softplus")
    register(_lower_softsign, "plugnet:softsign")
    register(_lower_swish, "plugnet:swish")
    register(_lower_mish, "plugnet:mish")
    register(_lower_tanh_exp, "plugnet:tanh_exp")
    register(_lower_gelu, "plugnet:gelu")
    register(_lower_hard_swish, "plugnet:hard_swish")
