"""The conformance kit catches real mistakes: deliberately broken components fail the check that
concerns them, with a message that names the component, the check and the numbers. Correct
components, registered or not, pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.configurable import Configurable
from plugnet.errors import SpecError
from plugnet.protocols import Conformance
from plugnet.testing import (
    ConformanceError,
    check_activation,
    check_error_function,
    check_fused_backward,
    check_initializer,
    check_layer,
    check_optimizer,
    check_provider,
    check_schedule,
)
from tests._layers import ScaledSum

Array = np.ndarray


def failure(check: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConformanceError) as info:
        check(*args, **kwargs)
    assert isinstance(info.value, AssertionError)
    return str(info.value)


def failed_checks(message: str) -> set[str]:
    return {line.split(": ")[1].removesuffix(" check failed") for line in message.splitlines()}


# -- correct components that no plugin registers ------------------------------------------------


class Tanh(Configurable):
    """y = tanh(x); dy/dx = 1 − y²."""

    def forward(self, x: Array) -> Array:
        return np.tanh(x)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * (1.0 - y * y)


class HalfSquare(Configurable):
    """E = (1/N) Σ ½ (y − t)²."""

    def forward(self, y: Array, t: Array) -> float:
        return float(0.5 * np.sum((y - t) ** 2) / y.shape[0])

    def backward(self, y: Array, t: Array) -> Array:
        return (y - t) / y.shape[0]


class Scale(Configurable):
    """y = x ⊙ s, a layer with one parameter vector s."""

    def __init__(self, sign: float = 1.0) -> None:
        self.sign = sign
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(self, input_shape: tuple[int, ...], *, rng: Any, dtype: Any) -> tuple[int, ...]:
        self.params = {"s": (1.0 + rng.random(input_shape)).astype(dtype)}
        self.grads = {"s": np.zeros(input_shape, dtype=dtype)}
        return input_shape

    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.x = x
        return x * self.params["s"]

    def backward(self, grad: Array) -> Array:
        self.grads["s"][...] = np.sum(grad * self.x, axis=0)
        return self.sign * grad * self.params["s"]


class Momentum(Configurable):
    """v ← 0.9 v + g; p ← p − lr·v, with one velocity per parameter name."""

    def __init__(self, lr: float = 0.1) -> None:
        self.lr = lr
        self.velocity: dict[str, Array] = {}

    def update(self, params: Any, grads: Any) -> None:
        for name, p in params.items():
            v = self.velocity.setdefault(name, np.zeros_like(p))
            v *= 0.9
            v += grads[name]
            p -= self.lr * v


class Gaussian(Configurable):
    """w ~ N(0, 0.1²)."""

    def __call__(self, shape: Any, *, rng: np.random.Generator, dtype: Any) -> Array:
        return (rng.standard_normal(shape) * 0.1).astype(dtype)

    def expected_std(self, shape: Any) -> float:
        return 0.1


def test_correct_unregistered_components_pass() -> None:
    check_activation(Tanh())
    check_error_function(HalfSquare())
    check_layer(Scale(), input_shape=(3, 2))
    check_optimizer(Momentum())
    check_initializer(Gaussian())


def test_builtins_pass_by_name_and_with_arguments() -> None:
    check_activation("leaky_relu(alpha=0.3)")
    check_error_function("cross_entropy")
    check_layer("dense(units=3, activation='sigmoid')", input_shape=(5,))
    check_layer({"name": "dense", "units": 2})
    check_optimizer("adam(lr=0.01)")
    check_initializer("he")
    check_schedule("cosine(t_max=10)")
    check_fused_backward("softmax", "cross_entropy")
    check_provider("plugnet")


# -- the mistakes the issue names -------------------------------------------------------------


class OffByOnePercent(Tanh):
    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return 1.01 * grad * (1.0 - y * y)


def test_a_gradient_off_by_one_percent_is_caught_with_its_numbers() -> None:
    message = failure(check_activation, OffByOnePercent())
    assert failed_checks(message) == {"gradient"}
    assert message.startswith("activation OffByOnePercent: gradient check failed")
    assert "worst absolute error" in message and "worst relative error 0.01" in message
    assert "at index" in message


class SignError(Scale):
    def __init__(self) -> None:
        super().__init__(sign=-1.0)


def test_a_sign_error_in_a_layer_backward_is_caught() -> None:
    message = failure(check_layer, SignError(), input_shape=(3,))
    assert failed_checks(message) == {"gradient"}
    assert "input gradient (training=True)" in message
    assert "worst relative error 2" in message  # −g vs g


class WrongParameterGradient(Scale):
    def backward(self, grad: Array) -> Array:
        dx = super().backward(grad)
        self.grads["s"] *= 0.5
        return dx


def test_a_wrong_parameter_gradient_is_caught_and_named() -> None:
    message = failure(check_layer, WrongParameterGradient(), input_shape=(2, 3))
    assert "gradient of 's' (training=True)" in message


class MutatesGrad(Tanh):
    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        grad *= 1.0 - y * y
        return grad


def test_a_backward_that_mutates_its_input_is_caught() -> None:
    message = failure(check_activation, MutatesGrad())
    assert "mutation" in failed_checks(message)
    assert "backward's input grad was modified in place" in message


class Upcasts(Tanh):
    def forward(self, x: Array) -> Array:
        return np.tanh(x.astype(np.float64))


def test_a_float64_upcast_is_caught() -> None:
    message = failure(check_activation, Upcasts())
    assert failed_checks(message) == {"dtype"}
    assert "dtype float64 for float32 inputs" in message


class NonJSONConfig(Tanh):
    def __init__(self) -> None:
        self.scale = np.array([1.0, 2.0])

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale}


def test_a_non_json_config_is_caught() -> None:
    message = failure(check_activation, NonJSONConfig())
    assert failed_checks(message) == {"config"}
    assert "not JSON-serializable" in message


class SharedState(Momentum):
    """One velocity for every parameter: the classic bug."""

    def update(self, params: Any, grads: Any) -> None:
        for name, p in params.items():
            if not hasattr(self, "shared"):
                self.shared = np.zeros_like(p)
            self.shared *= 0.9
            self.shared += grads[name]
            p -= self.lr * self.shared


def test_an_optimizer_that_shares_state_across_parameters_is_caught() -> None:
    message = failure(check_optimizer, SharedState())
    assert "state" in failed_checks(message)
    assert "state must be kept per parameter" in message


class ForgetsOneOverN(Configurable):
    def backward(self, y: Array, t: Array) -> Array:
        return y - t


def test_a_fused_pair_that_forgets_one_over_n_is_caught() -> None:
    message = failure(check_fused_backward, "softmax", "cross_entropy", fused=ForgetsOneOverN())
    assert failed_checks(message) == {"chain"}
    assert "against the unfused chain" in message
    assert "worst relative error 4" in message  # a batch of 5: off by a factor of 5


# -- more mistakes the checks exist for -------------------------------------------------------


class ForgetsOneOverNError(HalfSquare):
    def backward(self, y: Array, t: Array) -> Array:
        return y - t


def test_an_error_gradient_without_the_batch_mean_is_caught() -> None:
    message = failure(check_error_function, ForgetsOneOverNError())
    assert failed_checks(message) == {"gradient"}
    assert "batch of 5" in message


class NaiveSigmoid(Configurable):
    def forward(self, x: Array) -> Array:
        return 1.0 / (1.0 + np.exp(-x))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * y * (1.0 - y)


def test_overflow_on_large_inputs_is_caught() -> None:
    message = failure(check_activation, NaiveSigmoid())
    assert failed_checks(message) == {"extremes"}
    assert "overflow" in message


class Ascends(Momentum):
    def update(self, params: Any, grads: Any) -> None:
        for name, p in params.items():
            p += self.lr * grads[name]


def test_an_optimizer_that_climbs_is_caught() -> None:
    assert "descent" in failed_checks(failure(check_optimizer, Ascends()))


class GlobalRandom(Gaussian):
    def __call__(self, shape: Any, *, rng: np.random.Generator, dtype: Any) -> Array:
        return (np.random.standard_normal(shape) * 0.1).astype(dtype)  # noqa: NPY002


class WrongStd(Gaussian):
    def expected_std(self, shape: Any) -> float:
        return 0.2


def test_initializers_must_use_the_generator_and_match_their_std() -> None:
    assert "reproducible" in failed_checks(failure(check_initializer, GlobalRandom()))
    message = failure(check_initializer, WrongStd())
    assert failed_checks(message) == {"std"}
    assert "documents" not in message and "expected_std((256, 512)) says 0.2" in message


class NotAnActivation(Configurable):
    def forward(self, x: Array) -> Array:
        return x


def test_a_protocol_violation_is_a_clear_error() -> None:
    with pytest.raises(plugnet.SpecError, match="lacks backward"):
        check_activation(NotAnActivation())


def test_an_unknown_provider_or_missing_fused_pair_says_so() -> None:
    assert "no loaded provider is named 'no-such-dist'" in failure(check_provider, "no-such-dist")
    assert "no fused backward is registered" in failure(check_fused_backward, "relu", "square")


# -- layers that merge several inputs (MergesInputs) --------------------------------------------


def test_a_correct_merge_layer_passes_on_every_input() -> None:
    check_layer(ScaledSum())  # no cases: two inputs of (4,)
    check_layer(ScaledSum(), input_shapes=[(2, 3), (2, 3)])
    check_layer("concatenate(axis=1)", input_shapes=[(2, 3), (1, 3), (4, 3)])


class OneGradient(ScaledSum):
    def backward(self, grad: Array) -> list[Array]:
        return super().backward(grad)[:1]


class StackedGradients(ScaledSum):
    def backward(self, grad: Array) -> Any:
        return np.stack(super().backward(grad))


def test_a_merge_backward_without_one_gradient_per_input_is_caught() -> None:
    message = failure(check_layer, OneGradient(), input_shapes=[(3,), (3,)])
    assert failed_checks(message) == {"gradient", "dtype", "extremes"}
    assert "backward returned 1 gradient(s) for 2 inputs" in message
    assert "a list of one dE/dx per input, in the order of its inputs" in message
    message = failure(check_layer, StackedGradients(), input_shapes=[(3,), (3,)])
    assert "backward returned a ndarray for 2 inputs" in message


class SwappedGradients(ScaledSum):
    def backward(self, grad: Array) -> list[Array]:
        return super().backward(grad)[::-1]


def test_a_wrong_gradient_of_one_input_is_caught_and_named() -> None:
    message = failure(check_layer, SwappedGradients(), input_shapes=[(2, 3), (2, 3)])
    assert failed_checks(message) == {"gradient"}
    assert "input gradient of xs[0] (training=True)" in message


class MutatesSecondInput(ScaledSum):
    def forward(self, xs: list[Array], *, training: bool = False) -> Array:
        self.x = xs[0]
        xs[1] += xs[0] * self.params["s"]
        return xs[1]


class UpcastsSecondGradient(ScaledSum):
    def backward(self, grad: Array) -> list[Array]:
        first, second = super().backward(grad)
        return [first, second.astype(np.float64)]


def test_a_merge_layer_that_mutates_or_upcasts_one_input_is_caught() -> None:
    message = failure(check_layer, MutatesSecondInput(), input_shapes=[(3,), (3,)])
    assert "mutation" in failed_checks(message)
    assert "forward's input xs[1] was modified in place" in message
    message = failure(check_layer, UpcastsSecondGradient(), input_shapes=[(3,), (3,)])
    assert failed_checks(message) == {"dtype"}
    assert "backward output for xs[1] has dtype float64 for float32 inputs" in message


class DeclaresFalse(ScaledSum):
    merges_inputs = False  # type: ignore[assignment]


def test_merges_inputs_must_be_true_when_declared() -> None:
    # The registry refuses the declaration before any check runs, as it does skips_input_grad.
    with pytest.raises(SpecError, match=r"lacks merges_inputs = True \(it has False; see "):
        check_layer(DeclaresFalse(), input_shapes=[(3,), (3,)])


class OneShapeCase(ScaledSum):
    conformance = Conformance(cases=({"config": {}, "input_shapes": [(3,)]},))


def test_a_merge_layer_is_checked_on_a_list_of_shapes_and_only_it() -> None:
    with pytest.raises(ValueError, match=r'merges several inputs .* checked on "input_shapes"'):
        check_layer(ScaledSum(), input_shape=(3,))
    with pytest.raises(ValueError, match=r"a list of two or more per-sample shapes .* \[\(3,\)\]"):
        check_layer(OneShapeCase())
    with pytest.raises(ValueError, match=r'Scale reads one input .* not "input_shapes"'):
        check_layer(Scale(), input_shapes=[(3,), (3,)])
