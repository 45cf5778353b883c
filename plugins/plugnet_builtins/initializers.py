"""Initializers: draw initial parameter arrays from the network's Generator.

``init(shape, rng=rng, dtype=dtype)`` returns an array of exactly ``shape`` and ``dtype``.
float32 and float64 are drawn directly in that dtype (``Generator.standard_normal`` and
``Generator.random`` support both), other floating dtypes are drawn in float64 and cast. The
same Generator state gives the same array. Normal draws are plain, not truncated, as in
``torch.nn.init``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Shape
from plugnet_builtins._checks import number

DISTRIBUTIONS = ("normal", "uniform")


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``.

    - ``()``: (1, 1);
    - ``(n,)``: (n, n);
    - ``(in, out)``, a dense weight used as ``x @ W``: (in, out);
    - ``(out_channels, in_channels, *kernel)``, a convolution weight laid out as in PyTorch:
      (in_channels·∏kernel, out_channels·∏kernel).
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


# -- drawing in the requested dtype --------------------------------------------------------------


def _float_dtype(dtype: Any) -> np.dtype[Any]:
    resolved = np.dtype(dtype)
    if resolved.kind != "f":
        raise ValueError(f"random initializers draw floating-point arrays, not {resolved}")
    return resolved


def standard_normal(shape: Shape, rng: np.random.Generator, dtype: Any) -> Array:
    """Draws from N(0, 1) of ``shape`` and ``dtype`` (a floating dtype)."""
    resolved = _float_dtype(dtype)
    if resolved in (np.float32, np.float64):
        return rng.standard_normal(shape, dtype=resolved)
    return rng.standard_normal(shape).astype(resolved)


def standard_uniform(shape: Shape, rng: np.random.Generator, dtype: Any) -> Array:
    """Draws from U[0, 1) of ``shape`` and ``dtype`` (a floating dtype)."""
    resolved = _float_dtype(dtype)
    if resolved in (np.float32, np.float64):
        return rng.random(shape, dtype=resolved)
    return rng.random(shape).astype(resolved)


# -- argument checks -----------------------------------------------------------------------------


def _finite(name: str, value: Any) -> float:
    converted = number(name, value)
    if not math.isfinite(converted):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return converted


def _positive(name: str, value: Any) -> float:
    number = _finite(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def _distribution(value: Any) -> str:
    if value not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {value!r}")
    return str(value)


# -- the initializers ----------------------------------------------------------------------------


class Zeros(Configurable):
    """All zeros."""

    def __call__(self, shape: Shape, *, rng: np.random.Generator, dtype: Any) -> Array:
        return np.zeros(shape, dtype=dtype)

    def expected_std(self, shape: Shape) -> float:
        return 0.0


class Ones(Configurable):
    """All ones."""

    def __call__(self, shape: Shape, *, rng: np.random.Generator, dtype: Any) -> Array:
        return np.ones(shape, dtype=dtype)

    def expected_std(self, shape: Shape) -> float:
        return 0.0


class Normal(Configurable):
    """Normal draws: w ~ N(mean, std²)."""

    def __init__(self, mean: float = 0.0, std: float = 0.05) -> None:
        self.mean = _finite("mean", mean)
        self.std = _positive("std", std)

    def __call__(self, shape: Shape, *, rng: np.random.Generator, dtype: Any) -> Array:
        w = standard_normal(shape, rng, dtype)
        w *= self.std
        w += self.mean
        return w

    def expected_std(self, shape: Shape) -> float:
        return self.std


class Uniform(Configurable):
    """Uniform draws: w ~ U[low, high)."""

    def __init__(self, low: float = -0.05, high: float = 0.05) -> None:
        self.low = _finite("low", low)
        self.high = _finite("high", high)
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={low!r} and high={high!r}")

    def __call__(self, shape: Shape, *, rng: np.random.Generator, dtype: Any) -> Array:
        w = standard_uniform(shape, rng, dtype)
        w *= self.high - self.low
        w += self.low
        return w

    def expected_std(self, shape: Shape) -> float:
        """(high − low) / √12, the std of a uniform distribution."""
        return (self.high - self.low) / math.sqrt(12.0)


def _normal(shape: Shape, rng: np.random.Generator, dtype: Any, *, std: float) -> Array:
    """w ~ N(0, std²)."""
    w = standard_normal(shape, rng, dtype)
    w *= std
    return w


def _symmetric_uniform(
    shape: Shape, rng: np.random.Generator, dtype: Any, *, limit: float
) -> Array:
    """w ~ U[−limit, limit)."""
    w = standard_uniform(shape, rng, dtype)
    w *= 2.0 * limit
    w -= limit
    return w


class Xavier(Configurable):
    """Xavier/Glorot: Var(w) = gain²·2 / (fan_in + fan_out).

    normal: w ~ N(0, std²), std = gain·√(2 / (fan_in + fan_out));
    uniform: w ~ U[−a, a), a = gain·√(6 / (fan_in + fan_out)).
    Fans as in :func:`fans`. Glorot & Bengio, "Understanding the difficulty of training deep
    feedforward neural networks", AISTATS 2010.
    """

    def __init__(self, distribution: str = "normal", gain: float = 1.0) -> None:
        self.distribution = _distribution(distribution)
        self.gain = _positive("gain", gain)

    def __call__(self, shape: Shape, *, rng: np.random.Generator, dtype: Any) -> Array:
        fan_in, fan_out = fans(shape)
        fan_sum = max(fan_in + fan_out, 1)  # 0 only for an empty array
        if self.distribution == "normal":
            return _normal(shape, rng, dtype, std=self.gain * math.sqrt(2.0 / fan_sum))
        return _symmetric_uniform(shape, rng, dtype, limit=self.gain * math.sqrt(6.0 / fan_sum))

    def expected_std(self, shape: Shape) -> float:
        """gain·√(2 / (fan_in + fan_out)) for both distributions."""
        fan_in, fan_out = fans(shape)
        return self.gain * math.sqrt(2.0 / max(fan_in + fan_out, 1))


class XavierNormal(Xavier):
    """Xavier/Glorot normal: w ~ N(0, std²), std = gain·√(2 / (fan_in + fan_out))."""

    def __init__(self, gain: float = 1.0) -> None:
        super().__init__("normal", gain)


class XavierUniform(Xavier):
    """Xavier/Glorot uniform: w ~ U[−a, a), a = gain·√(6 / (fan_in + fan_out))."""

    def __init__(self, gain: float = 1.0) -> None:
        super().__init__("uniform", gain)


class _FanIn(Configurable):
    """What He and LeCun share: Var(w) = variance / fan_in, with fans as in :func:`fans`.

    normal: w ~ N(0, std²), std = √(variance / fan_in); uniform: w ~ U[−a, a),
    a = √(3·variance / fan_in), which has the same variance.
    """

    variance: ClassVar[float]

    def __init__(self, distribution: str = "normal") -> None:
        self.distribution = _distribution(distribution)

    def __call__(self, shape: Shape, *, rng: np.random.Generator, dtype: Any) -> Array:
        fan_in = max(fans(shape)[0], 1)  # 0 only for an empty array
        if self.distribution == "normal":
            return _normal(shape, rng, dtype, std=math.sqrt(self.variance / fan_in))
        return _symmetric_uniform(shape, rng, dtype, limit=math.sqrt(3.0 * self.variance / fan_in))

    def expected_std(self, shape: Shape) -> float:
        """√(variance / fan_in) for both distributions."""
        return math.sqrt(self.variance / fans(shape)[0])


class He(_FanIn):
    """He/Kaiming, for ReLU layers: Var(w) = 2 / fan_in.

    normal: w ~ N(0, std²), std = √(2 / fan_in); uniform: w ~ U[−a, a), a = √(6 / fan_in).
    Fans as in :func:`fans`. He, Zhang, Ren & Sun, "Delving deep into rectifiers", ICCV 2015.
    """

    variance = 2.0


class HeNormal(He):
    """He/Kaiming normal: w ~ N(0, std²), std = √(2 / fan_in)."""

    def __init__(self) -> None:
        super().__init__("normal")


class HeUniform(He):
    """He/Kaiming uniform: w ~ U[−a, a), a = √(6 / fan_in)."""

    def __init__(self) -> None:
        super().__init__("uniform")


class Lecun(_FanIn):
    """LeCun, for SELU and tanh layers: Var(w) = 1 / fan_in.

    normal: w ~ N(0, std²), std = √(1 / fan_in); uniform: w ~ U[−a, a), a = √(3 / fan_in).
    LeCun, Bottou, Orr & Müller, "Efficient BackProp", 1998.
    """

    variance = 1.0


class LecunNormal(Lecun):
    """LeCun normal: w ~ N(0, std²), std = √(1 / fan_in)."""

    def __init__(self) -> None:
        super().__init__("normal")


class LecunUniform(Lecun):
    """LeCun uniform: w ~ U[−a, a), a = √(3 / fan_in)."""

    def __init__(self) -> None:
        super().__init__("uniform")


class Orthogonal(Configurable):
    """Orthogonal: w = gain·Q, Q from the QR decomposition of a standard normal matrix.

    The weight is viewed as a (shape[0], ∏shape[1:]) matrix; its rows (or columns, whichever are
    fewer) are orthonormal. Q's columns are signed by diag(R) so Q is uniformly distributed.
    Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics of learning in deep
    linear neural networks", ICLR 2014.
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _positive("gain", gain)

    def __call__(self, shape: Shape, *, rng: np.random.Generator, dtype: Any) -> Array:
        resolved = _float_dtype(dtype)
        if len(shape) < 2:
            raise ValueError(f"orthogonal needs a weight with at least 2 axes, got shape {shape}")
        rows, cols = shape[0], math.prod(shape[1:])
        matrix = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(matrix)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(resolved)

    def expected_std(self, shape: Shape) -> float:
        """gain / √max(rows, cols): min(rows, cols) orthonormal vectors hold rows·cols entries whose
        squares sum to min(rows, cols)."""
        return self.gain / math.sqrt(max(shape[0], math.prod(shape[1:])))


class TruncatedNormal(Configurable):
    """Truncated normal: w ~ N(mean, std²) restricted to mean ± 2·std (draws outside are
    redrawn, as in Keras and TensorFlow). The sample std is about 0.88·std."""

    def __init__(self, mean: float = 0.0, std: float = 0.05) -> None:
        self.mean = _finite("mean", mean)
        self.std = _positive("std", std)

    def __call__(self, shape: Shape, *, rng: np.random.Generator, dtype: Any) -> Array:
        z = standard_normal(shape, rng, dtype)
        outside = np.abs(z) > 2.0
        while outside.any():
            z[outside] = standard_normal((int(outside.sum()),), rng, z.dtype)
            outside = np.abs(z) > 2.0
        z *= self.std
        z += self.mean
        return z

    def expected_std(self, shape: Shape) -> float:
        """std·√(1 − 4φ(2) / (Φ(2) − Φ(−2))) ≈ 0.8796·std, the std of N(0, std²) cut at ±2·std."""
        density = math.exp(-2.0) / math.sqrt(2.0 * math.pi)
        return self.std * math.sqrt(1.0 - 4.0 * density / math.erf(math.sqrt(2.0)))


@hookimpl
def register_initializers(register: Register) -> None:
    register(Zeros, name="zeros")
    register(Ones, name="ones")
    register(Normal, name="normal", aliases=("random_normal",))
    register(Uniform, name="uniform", aliases=("random_uniform",))
    register(Xavier, name="xavier", aliases=("glorot",))
    register(XavierNormal, name="xavier_normal", aliases=("glorot_normal",))
    register(XavierUniform, name="xavier_uniform", aliases=("glorot_uniform",))
    register(He, name="he", aliases=("kaiming",))
    register(HeNormal, name="he_normal", aliases=("kaiming_normal",))
    register(HeUniform, name="he_uniform", aliases=("kaiming_uniform",))
    register(Lecun, name="lecun")
    register(LecunNormal, name="lecun_normal")
    register(LecunUniform, name="lecun_uniform")
    register(Orthogonal, name="orthogonal")
    register(TruncatedNormal, name="truncated_normal")
