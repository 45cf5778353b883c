"""Layers. Each keeps what its backward needs from the last forward.

``backward(grad)`` takes dE/dy and returns dE/dx, writing each parameter's gradient into
``grads``. Layers that end in an activation also offer ``backward_linear(delta)``, which takes
δ = dE/du (the gradient at the pre-activation u) directly; the network uses it when the registry
has a fused backward for (the layer's activation, the error function).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet import nested
from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Activation, Array, Conformance, Initializer, Shape
from plugnet_builtins import activations
from plugnet_builtins.initializers import He, Xavier

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph

# Activations whose layers default to He initialization; every other activation gets Xavier.
RELU_LIKE = frozenset(
    {
        activations.ReLU,
        activations.LeakyReLU,
        activations.ReLU6,
        activations.ELU,
        activations.SELU,
        activations.CELU,
        activations.GELU,
        activations.Swish,
        activations.Mish,
        activations.HardSwish,
    }
)
ActivationSpec = Activation | str | Mapping[str, Any]
InitializerSpec = Initializer | str | Mapping[str, Any] | None


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def initializer_or_default(
    owner: Any, initializer: InitializerSpec, default: Callable[[], tuple[Any, str]]
) -> Any:
    """``initializer`` as an instance, or for None ``default()``: an initializer of this plugin
    and its registered name, built here with its spec recorded for ``get_config``."""
    if initializer is not None:
        return nested.argument(owner, "initializer", "initializer", initializer)
    instance, name = default()
    owner.component_specs["initializer"] = {"name": f"plugnet:{name}", **instance.get_config()}
    owner.chosen_by_default = {"initializer"}  # left out of the repr, as an argument not given
    return instance


def initializer_for(owner: Any, activation: Activation, initializer: InitializerSpec) -> Any:
    """``initializer`` as an instance, or for None the default: He after a ReLU-like
    activation, else Xavier."""
    relu_like = type(activation) in RELU_LIKE
    return initializer_or_default(
        owner, initializer, lambda: (He(), "he") if relu_like else (Xavier(), "xavier")
    )


class Dense(Configurable):
    """Fully connected layer: u = xW + b, y = f(u), with W of shape (inputs, units).

    Backward, with δ = dE/du = f'(u) ⊙ dE/dy (a vector-Jacobian product in general):
    dW = xᵀδ,  db = Σ_rows δ,  dx = δWᵀ.
    """

    skips_input_grad = True  # backward(grad, *, need_input_grad): see SkipsInputGrad
    conformance = Conformance(
        cases=(
            {"config": {"units": 3}, "input_shape": (4,)},
            {"config": {"units": 2, "activation": "tanh", "use_bias": False}, "input_shape": (3,)},
        )
    )

    def __init__(
        self,
        units: int,
        activation: ActivationSpec = "identity",
        initializer: InitializerSpec = None,
        use_bias: bool = True,
    ) -> None:
        self.component_specs: dict[str, dict[str, Any]] = {}
        self.units = _positive_int(units, "dense units")
        self.activation = nested.argument(self, "activation", "activation", activation)
        self.initializer = initializer_for(self, self.activation, initializer)
        self.use_bias = bool(use_bias)
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def get_config(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "activation": nested.spec(self, "activation", self.activation),
            "initializer": nested.spec(self, "initializer", self.initializer),
            "use_bias": self.use_bias,
        }

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(
                f"dense takes inputs of shape (features,) per sample, got {input_shape}; "
                f"put a flatten layer before it"
            )
        (inputs,) = input_shape
        self.params = {"w": self.initializer((inputs, self.units), rng=rng, dtype=dtype)}
        if self.use_bias:
            self.params["b"] = np.zeros(self.units, dtype=dtype)
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        return (self.units,)

    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.x = x
        u = x @ self.params["w"]
        if self.use_bias:
            u += self.params["b"]
        self.u = u
        self.y = self.activation.forward(u)
        return self.y

    def backward(self, grad: Array, *, need_input_grad: bool = True) -> Array | None:
        delta = self.activation.backward(self.u, self.y, grad)
        return self.backward_linear(delta, need_input_grad=need_input_grad)

    def backward_linear(self, delta: Array, *, need_input_grad: bool = True) -> Array | None:
        """Given δ = dE/du: dW = xᵀδ, db = Σ_rows δ, and (unless not needed) dx = δWᵀ."""
        # dW = x.T @ delta, written into the existing grads["w"]: a training step then
        # allocates no new weight-sized matrix (the MLP benchmark's peak memory).
        np.matmul(self.x.T, delta, out=self.grads["w"])
        if self.use_bias:
            np.sum(delta, axis=0, out=self.grads["b"])
        return delta @ self.params["w"].T if need_input_grad else None


class ActivationLayer(Configurable):
    """An activation as a layer of its own: y = f(x), no parameters."""

    def __init__(self, activation: ActivationSpec = "relu") -> None:
        self.component_specs: dict[str, dict[str, Any]] = {}
        self.activation = nested.argument(self, "activation", "activation", activation)
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def get_config(self) -> dict[str, Any]:
        return {"activation": nested.spec(self, "activation", self.activation)}

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        return input_shape

    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.x = x
        self.y = self.activation.forward(x)
        return self.y

    def backward(self, grad: Array) -> Array:
        return self.activation.backward(self.x, self.y, grad)

    def backward_linear(self, delta: Array) -> Array:
        return delta


@hookimpl
def register_layers(register: Register) -> None:
    register(Dense, name="dense", aliases=("linear", "fully_connected"))
    register(ActivationLayer, name="activation")


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------


def lower_dense(layer: Dense, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """u = xW + b is ONNX's Gemm (MatMul without the bias); then the activation's lowering."""
    w = graph.constant(layer.params["w"], "w")
    if layer.use_bias:
        u = graph.node("Gemm", [inputs[0], w, graph.constant(layer.params["b"], "b")], hint="u")
    else:
        u = graph.node("MatMul", [inputs[0], w], hint="u")
    return graph.lower(layer.activation, [u])


def lower_activation_layer(layer: ActivationLayer, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    return graph.lower(layer.activation, inputs)


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    register(lower_dense, "plugnet:dense")
    register(lower_activation_layer, "plugnet:activation")
