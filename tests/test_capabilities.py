"""The optional capabilities of plugnet.protocols: the core uses them through isinstance only,
and a component that claims one but implements it wrongly is refused with its name and what it
lacks."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet import PluginError, PluginWarning, SpecError
from plugnet._registry import Registry
from plugnet.protocols import (
    Conformance,
    DeclaresConformance,
    DocumentsStd,
    HasBuffers,
    OutputLayer,
    SkipsInputGrad,
    Stateful,
    conformance_of,
)
from plugnet_builtins.activations import HardShrink, ReLU
from plugnet_builtins.errors import CrossEntropy
from plugnet_builtins.initializers import HeNormal
from plugnet_builtins.layers import ActivationLayer
from plugnet_builtins.normalization import BatchNorm
from plugnet_builtins.optimizers import Adam
from tests.conftest import make_plugin


class Scale:
    """y = 2x, a parameter-free layer whose backward takes need_input_grad without declaring
    it: the network must not find that out from the signature."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.calls: list[dict[str, Any]] = []

    def build(self, input_shape: Any, *, rng: Any, dtype: Any) -> Any:
        return input_shape

    def forward(self, x: Any, *, training: bool = False) -> Any:
        return 2 * x

    def backward(self, grad: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return 2 * grad

    def get_config(self) -> dict[str, Any]:
        return {}


class Undeclared(Scale):
    """y = wx with one scalar parameter; its backward can skip dE/dx, but it does not say so."""

    def build(self, input_shape: Any, *, rng: Any, dtype: Any) -> Any:
        self.params = {"w": np.ones((), dtype=dtype)}
        self.grads = {"w": np.zeros((), dtype=dtype)}
        return input_shape

    def forward(self, x: Any, *, training: bool = False) -> Any:
        self.x = x
        return self.params["w"] * x

    def backward(self, grad: Any, *, need_input_grad: bool = True) -> Any:
        self.calls.append({"need_input_grad": need_input_grad})
        self.grads["w"][...] = np.sum(grad * self.x)
        return self.params["w"] * grad if need_input_grad else None


class Weighted(Undeclared):
    """The same layer, declaring that its backward can skip dE/dx."""

    skips_input_grad = True


def test_the_builtins_satisfy_the_protocols_they_claim() -> None:
    dense = plugnet.layer("dense(units=3, activation='relu')")
    assert isinstance(dense, OutputLayer) and isinstance(dense, SkipsInputGrad)
    assert isinstance(ActivationLayer(ReLU()), OutputLayer)
    assert not isinstance(ActivationLayer(ReLU()), SkipsInputGrad)
    assert isinstance(BatchNorm(), HasBuffers) and not isinstance(dense, HasBuffers)
    assert isinstance(Adam(), Stateful)
    assert isinstance(HeNormal(), DocumentsStd)
    assert isinstance(CrossEntropy, DeclaresConformance)
    assert conformance_of(CrossEntropy()).domain == "probabilities"
    assert conformance_of(HardShrink(lambd=0.3)).kinks_of(HardShrink(lambd=0.3)) == [-0.3, 0.3]
    assert conformance_of(ReLU()) == Conformance(kinks=(0.0,))
    assert conformance_of(Scale()) == Conformance()


def test_a_conformance_behaves_as_a_frozen_value() -> None:
    """A plain class since issue 16 (start-up), with the frozen dataclass's behaviour."""
    declared = Conformance(({"config": {}},), (0.0,), "binary")  # by position, in field order
    same = Conformance(cases=({"config": {}},), kinks=(0.0,), domain="binary")
    assert declared == same
    assert hash(Conformance(kinks=(0.0,))) == hash(Conformance((), (0.0,)))
    assert declared != Conformance(cases=({"config": {}},), kinks=(0.0,))
    assert Conformance() != ((), (), "real")  # compared only with another Conformance
    assert repr(Conformance(kinks=(1.0,))) == "Conformance(cases=(), kinks=(1.0,), domain='real')"
    with pytest.raises(AttributeError, match="'domain'"):
        declared.domain = "real"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="'kinks'"):
        del declared.kinks  # type: ignore[misc]
    assert copy.deepcopy(declared) == declared
    assert pickle.loads(pickle.dumps(declared)) == declared
    match declared:
        case Conformance(cases, kinks, domain):
            assert (cases, kinks, domain) == (({"config": {}},), (0.0,), "binary")


def test_the_older_declarations_are_still_read() -> None:
    class Old:
        conformance_cases = ({"config": {}},)
        conformance_domain = "binary"

        @property
        def kinks(self) -> tuple[float, ...]:
            return (1.5,)

    assert conformance_of(Old) == Conformance(cases=({"config": {}},), domain="binary")
    assert conformance_of(Old()).kinks_of(Old()) == [1.5]


def test_the_network_skips_input_grad_only_where_declared() -> None:
    x, t = np.ones((2, 3)), np.zeros((2, 3))
    # The first layer with parameters is asked to skip dE/dx only when it declares it can;
    # the undeclared one gets a plain call and so its default, True.
    for layer, asked in ((Weighted(), False), (Undeclared(), True)):
        net = plugnet.Sequential([Scale(), layer, Scale()], error="square", seed=0)
        net.build((3,))
        net.train_step(x, t)
        assert layer.calls == [{"need_input_grad": asked}]


def add(registry: Registry, **hooks: Any) -> Any:
    with pytest.warns(PluginWarning):
        return registry.add_plugin(make_plugin("bad", **hooks), provider="bad", version="1.0")


class NoKeyword(Weighted):
    def backward(self, grad: Any) -> Any:  # type: ignore[override]
        return grad


class FalseClaim(Weighted):
    skips_input_grad = False  # type: ignore[assignment]


class NoneClaim(Weighted):
    skips_input_grad = None  # type: ignore[assignment]


class LinearNoKeyword(Weighted):
    def backward_linear(self, delta: Any) -> Any:
        return delta


class LinearNotCallable(Scale):
    backward_linear = 3


class HalfState:
    def update(self, params: Any, grads: Any) -> None: ...

    def get_state(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        return {}


class BadConformance(Scale):
    conformance = ({"config": {}},)


class PerSampleNotCallable:
    per_sample = 0.5

    def forward(self, y: Any, t: Any) -> float:
        return 0.0

    def backward(self, y: Any, t: Any) -> Any:
        return y

    def get_config(self) -> dict[str, Any]:
        return {}


class EpochNotCallable(HalfState):
    start_epoch = True

    def set_state(self, state: Any) -> None: ...


class FlagNotBool(Scale):
    def __init__(self) -> None:
        super().__init__()
        self.trainable = "yes"


class MergeClaimFalse(Scale):
    merges_inputs = False


class IndicesClaimOne(Scale):
    takes_indices = 1


class BothClaims(Scale):
    merges_inputs = True
    takes_indices = True


class NoIndexCount(Scale):
    takes_indices = True

    def __init__(self) -> None:
        super().__init__()
        self.index_count = 0


@pytest.mark.parametrize(
    ("hook", "factory", "message"),
    [
        ("register_layers", NoKeyword,
         "'NoKeyword' does not satisfy the Layer protocol: it lacks the keyword need_input_grad "
         "in backward (it declares skips_input_grad)"),
        ("register_layers", FalseClaim, "'FalseClaim' does not satisfy the Layer protocol: it "
         "lacks skips_input_grad = True (it has False)"),
        ("register_layers", NoneClaim, "it lacks skips_input_grad = True (it has None)"),
        ("register_layers", LinearNoKeyword,
         "it lacks the keyword need_input_grad in backward_linear"),
        ("register_layers", LinearNotCallable, "'LinearNotCallable' does not satisfy the Layer "
         "protocol: it lacks a callable backward_linear"),
        ("register_optimizers", HalfState, "'HalfState' does not satisfy the Optimizer protocol: "
         "it lacks set_state next to get_state (see Stateful)"),
        ("register_layers", BadConformance,
         "'BadConformance' does not satisfy the Layer protocol: it lacks conformance as a "
         "plugnet.protocols.Conformance"),
        ("register_error_functions", PerSampleNotCallable, "'PerSampleNotCallable' does not "
         "satisfy the ErrorFunction protocol: it lacks a callable per_sample (see PerSampleError)"),
        ("register_optimizers", EpochNotCallable,
         "it lacks a callable start_epoch (see EpochAware)"),
        ("register_layers", MergeClaimFalse,
         "it lacks merges_inputs = True (it has False; see MergesInputs)"),
        ("register_layers", IndicesClaimOne,
         "it lacks takes_indices = True (it has 1; see TakesIndices)"),
        ("register_layers", BothClaims, "it lacks merges_inputs or takes_indices, not both"),
    ],
)  # fmt: skip
def test_a_wrong_capability_is_refused_at_registration(
    fresh_registry: Registry, hook: str, factory: Any, message: str
) -> None:
    record = add(fresh_registry, **{hook: lambda register: register(factory, "subject")})
    assert record.status == "failed" and not record.components
    assert message in (record.error or "")


class NoActivation(Scale):
    def backward_linear(self, delta: Any) -> Any:
        return delta


class BadBuffers(Scale):
    def __init__(self) -> None:
        super().__init__()
        self.buffers = [np.zeros(2)]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (NoActivation, "'bad:subject' built a NoActivation that does not satisfy the Layer "
         "protocol: it lacks an activation next to backward_linear (see OutputLayer)"),
        (BadBuffers, "it lacks buffers as a dict of arrays (see HasBuffers)"),
        (FlagNotBool, "it lacks trainable as True or False (it has 'yes'; see Freezable)"),
        (NoIndexCount, "it lacks index_count as a positive int (it has 0; see TakesIndices)"),
    ],
)  # fmt: skip
def test_a_wrong_capability_is_refused_when_built(
    fresh_registry: Registry, factory: Any, message: str
) -> None:
    record = fresh_registry.add_plugin(
        make_plugin("late", register_layers=lambda register: register(factory, "subject")),
        provider="bad",
        version="1.0",
    )
    assert record.status == "loaded"
    with pytest.raises(PluginError) as caught:
        fresh_registry.resolve("layer", "bad:subject")
    assert message in str(caught.value)


def test_a_wrong_capability_is_refused_as_an_instance(fresh_registry: Registry) -> None:
    with pytest.raises(SpecError, match="which lacks an activation next to backward_linear"):
        fresh_registry.resolve("layer", NoActivation())


PRIVATE_REGISTRY_SCRIPT = r"""
import json, sys
from typing import Any

import numpy as np

import plugnet
from plugnet import discovery
from plugnet.network import load


class Wave:
    def forward(self, x: Any) -> Any:
        return np.sin(x)

    def backward(self, x: Any, y: Any, grad: Any) -> Any:
        return grad * np.cos(x)

    def get_config(self) -> dict[str, Any]:
        return {}


class TestPlugin:
    @plugnet.hookimpl
    def register_activations(self, register: Any) -> None:
        register(Wave, name="wave")


# The built-ins only, not published as the process-wide registry.
registry = discovery.build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
registry.add_plugin(TestPlugin(), provider="test-plugin", version="1.0")

net = plugnet.Sequential(
    [{"type": "dense", "units": 5, "activation": "wave"},
     {"type": "dense", "units": 3, "activation": "softmax"}],
    error="cross_entropy",
    optimizer="adam(lr=0.01, schedule={'name': 'warmup', 'steps': 2, 'then': 'cosine(t_max=5)'})",
    seed=0,
    registry=registry,
)
x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
t = np.random.default_rng(1).integers(0, 3, 16)
net.fit(x, t, epochs=2, batch_size=8, verbose=0)
net.save(sys.argv[1])
loaded = load(sys.argv[1], registry=registry)
print(json.dumps({
    "global_created": discovery._registry is not None or discovery._building is not None,
    "fused": type(net._fused).__name__,
    "same": bool(np.array_equal(net.predict(x), loaded.predict(x))),
    "dense": loaded[0].get_config(),
    "optimizer": loaded.optimizer.get_config()["schedule"],
    "registry": loaded.registry is registry,
}))
"""


def test_a_private_registry_builds_trains_saves_and_loads_without_the_global_one(
    tmp_path: Any,
) -> None:
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "private.py"
    script.write_text(PRIVATE_REGISTRY_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([f"{root}/core", f"{root}/plugins", root])}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "model.npz")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["global_created"] is False
    assert result["fused"] != "NoneType" and result["same"] and result["registry"]
    assert result["dense"]["activation"] == {"name": "test-plugin:wave"}
    assert result["dense"]["initializer"] == {
        "name": "plugnet:xavier",
        "distribution": "normal",
        "gain": 1.0,
    }
    assert result["optimizer"] == {
        "name": "plugnet:warmup",
        "steps": 2,
        "then": {"name": "plugnet:cosine", "t_max": 5, "eta_min": 0.0},
    }
