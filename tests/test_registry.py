"""The registry: names, specs, reserved names, clashes, failure isolation and fused pairs.

Plugins here are in-process modules; tests/test_installed.py covers real entry points.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet import (
    AmbiguousComponentError,
    PluginError,
    PluginWarning,
    SpecError,
    UnknownComponentError,
)
from plugnet._registry import KINDS, Registry, _takes_nothing
from plugnet.discovery import build_registry
from plugnet_builtins.activations import ReLU, Softmax
from plugnet_builtins.layers import Dense
from tests.conftest import make_plugin


@dataclass(frozen=True)
class Wave:
    """y = sin(ax)."""

    a: float = 1.0

    def forward(self, x: Any) -> Any:
        return np.sin(self.a * x)

    def backward(self, x: Any, y: Any, grad: Any) -> Any:
        return grad * self.a * np.cos(self.a * x)

    def get_config(self) -> dict[str, Any]:
        return {"a": self.a}


class NoBackward:
    def forward(self, x: Any) -> Any:
        return x

    def get_config(self) -> dict[str, Any]:
        return {}


def activations_plugin(name: str, *entries: tuple[Any, ...]) -> Any:
    def register_activations(register: Any) -> None:
        for entry in entries:
            register(*entry)

    return make_plugin(name, register_activations=register_activations)


def add(registry: Registry, plugin: Any, provider: str) -> Any:
    return registry.add_plugin(plugin, provider=provider, version="1.0")


# -- names and specs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["relu", "ReLU", "RELU", "r_e-lu", "plugnet:relu", "Plugnet : ReLU", "relu()"]
)
def test_spellings_of_a_name_resolve_to_the_builtin(fresh_registry: Registry, spec: str) -> None:
    assert isinstance(fresh_registry.resolve("activation", spec), ReLU)


def test_aliases_dicts_and_instances(fresh_registry: Registry) -> None:
    assert type(fresh_registry.resolve("activation", "Logistic")).__name__ == "Sigmoid"
    assert type(fresh_registry.resolve("activation", {"name": "softmax"})) is Softmax
    assert type(fresh_registry.resolve("activation", {"type": "softmax"})) is Softmax
    instance = Softmax()
    assert fresh_registry.resolve("activation", instance) is instance
    ce = fresh_registry.resolve("error_function", "categorical-cross-entropy")
    assert type(ce).__name__ == "CrossEntropy"


def test_public_shortcuts_use_the_global_registry() -> None:
    assert plugnet.registry() is plugnet.registry()
    assert isinstance(plugnet.get("activation", "relu"), ReLU)
    assert isinstance(plugnet.activation("relu"), ReLU)
    assert type(plugnet.error_function("square")).__name__ == "Square"
    assert plugnet.available("activation")[:3] == sorted(plugnet.available("activation"))[:3]
    assert {"relu", "sigmoid", "softmax"} <= set(plugnet.available("activation"))
    assert plugnet.fused_backward("softmax", "square") is None
    assert type(plugnet.fused_backward("Softmax", "cross-entropy")).__name__ == (
        "SoftmaxCrossEntropy"
    )


def test_unknown_name_names_kind_suggests_and_lists(fresh_registry: Registry) -> None:
    with pytest.raises(UnknownComponentError) as info:
        fresh_registry.resolve("activation", "rleu")
    message = str(info.value)
    assert isinstance(info.value, LookupError)
    assert "unknown activation 'rleu'" in message
    assert "Did you mean 'relu'" in message
    available = fresh_registry.available("activation")
    assert f"Available activations: {', '.join(available)}." in message
    assert {"relu", "sigmoid", "softmax"} <= set(available)
    assert info.value.suggestions[0] == "relu"


def test_unknown_name_of_another_kind_says_so(fresh_registry: Registry) -> None:
    with pytest.raises(UnknownComponentError, match="'square' is a registered error function"):
        fresh_registry.resolve("activation", "square")


def test_unknown_provider_is_named(fresh_registry: Registry) -> None:
    with pytest.raises(UnknownComponentError, match="no installed provider is named 'nope'"):
        fresh_registry.resolve("activation", "nope:relu")
    with pytest.raises(UnknownComponentError, match="provider 'plugnet' registers no such"):
        fresh_registry.resolve("activation", "plugnet:wave")


def test_unknown_kind(fresh_registry: Registry) -> None:
    with pytest.raises(ValueError, match="unknown component kind 'activations'; the kinds are"):
        fresh_registry.resolve("activations", "relu")


def test_bad_arguments_list_what_is_accepted(fresh_registry: Registry) -> None:
    add(fresh_registry, activations_plugin("waves", (Wave, "wave")), "waves")
    assert fresh_registry.resolve("activation", "wave(a=2.0)").a == 2.0
    with pytest.raises(SpecError) as info:
        fresh_registry.resolve("activation", "wave(b=2)")
    assert "'waves:wave'" in str(info.value) and "It accepts: a." in str(info.value)
    with pytest.raises(SpecError, match="It accepts: no arguments"):
        fresh_registry.resolve("activation", "relu(alpha=1)")


def test_factory_errors_become_spec_errors(fresh_registry: Registry) -> None:
    def picky(alpha: float = 0.1) -> Wave:
        if alpha < 0:
            raise ValueError("alpha must be non-negative")
        return Wave(alpha)

    add(fresh_registry, activations_plugin("picky", (picky, "picky")), "picky")
    with pytest.raises(SpecError, match="alpha must be non-negative"):
        fresh_registry.resolve("activation", "picky(alpha=-1)")


def test_classes_and_non_components_are_refused_as_specs(fresh_registry: Registry) -> None:
    with pytest.raises(SpecError, match=r"pass an instance \(ReLU\(\)\) or a name"):
        fresh_registry.resolve("activation", ReLU)
    with pytest.raises(SpecError, match="lacks backward"):
        fresh_registry.resolve("activation", NoBackward())
    with pytest.raises(SpecError, match="lacks forward, backward, get_config"):
        fresh_registry.resolve("activation", 3.0)


# -- plugins --------------------------------------------------------------------------------------


def test_third_party_component_by_short_alias_and_qualified_name(fresh_registry: Registry) -> None:
    add(
        fresh_registry, activations_plugin("waves", (Wave, "wave", ("sine_wave",))), "plugnet-waves"
    )
    for spec in ("wave", "Sine-Wave", "plugnet-waves:wave", "plugnet_waves:sine wave"):
        assert isinstance(fresh_registry.resolve("activation", spec), Wave)
    assert "wave" in fresh_registry.available("activation")


def test_reserved_builtin_name_warns_and_stays_builtin(fresh_registry: Registry) -> None:
    with pytest.warns(PluginWarning) as caught:
        add(fresh_registry, activations_plugin("thief", (Wave, "relu"), (Wave, "wave")), "thief")
    message = str(caught[0].message)
    assert "'thief'" in message and "'relu'" in message and "reserved" in message
    assert "'thief:relu'" in message
    assert isinstance(fresh_registry.resolve("activation", "relu"), ReLU)
    assert isinstance(fresh_registry.resolve("activation", "thief:relu"), Wave)
    assert isinstance(fresh_registry.resolve("activation", "wave"), Wave)
    assert "thief:relu" in fresh_registry.available("activation")


def test_two_third_parties_with_one_name_are_ambiguous(fresh_registry: Registry) -> None:
    add(fresh_registry, activations_plugin("a", (Wave, "wobble"), (Wave, "only_a")), "dist-a")
    add(fresh_registry, activations_plugin("b", (Wave, "wobble")), "dist-b")
    with pytest.raises(AmbiguousComponentError) as info:
        fresh_registry.resolve("activation", "wobble")
    assert isinstance(info.value, LookupError)
    assert "'dist-a:wobble'" in str(info.value) and "'dist-b:wobble'" in str(info.value)
    assert isinstance(fresh_registry.resolve("activation", "dist-b:wobble"), Wave)
    assert isinstance(fresh_registry.resolve("activation", "only_a"), Wave)
    assert isinstance(fresh_registry.resolve("activation", "relu"), ReLU)
    available = fresh_registry.available("activation")
    assert "dist-a:wobble" in available and "dist-b:wobble" in available


def failing_plugin() -> Any:
    def register_activations(register: Any) -> None:
        register(Wave, "half_registered")
        raise RuntimeError("hook exploded")

    return make_plugin("failing", register_activations=register_activations)


def test_a_failing_plugin_is_isolated_and_registers_nothing(fresh_registry: Registry) -> None:
    with pytest.warns(PluginWarning) as caught:
        record = add(fresh_registry, failing_plugin(), "plugnet-failing")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "'plugnet-failing'" in message and "RuntimeError: hook exploded" in message
    assert "PLUGNET_STRICT_PLUGINS=1" in message
    assert record.status == "failed" and record.error == "RuntimeError: hook exploded"
    assert fresh_registry.failures == [record]
    with pytest.raises(UnknownComponentError):
        fresh_registry.resolve("activation", "half_registered")
    assert isinstance(fresh_registry.resolve("activation", "relu"), ReLU)


def test_strict_mode_raises() -> None:
    registry = Registry(strict=True)
    with pytest.raises(PluginError, match="'plugnet-failing' failed to load: RuntimeError"):
        add(registry, failing_plugin(), "plugnet-failing")


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ({"register_activation": lambda register: None}, "unknown hook 'register_activation'"),
        ({"register_activations": lambda registr: None}, "registr"),
        ({"register_activations": lambda register: register(NoBackward, "nb")},
         "'NoBackward' does not satisfy the Activation protocol: it lacks backward"),
        ({"register_activations": lambda register: register(Wave, "Wave")}, "lower snake case"),
        ({"register_activations": lambda register: (register(Wave, "w"), register(ReLU, "w"))},
         "registered twice"),
        ({"register_activations": lambda register: register(3, "three")}, "is not callable"),
        ({"register_fused_backwards": lambda register: register(Wave, "wave")},
         "name=(activation_name, error_name)"),
    ],
)  # fmt: skip
def test_invalid_plugins_are_refused_with_a_reason(
    fresh_registry: Registry, hooks: dict[str, Any], message: str
) -> None:
    with pytest.warns(PluginWarning):
        record = add(fresh_registry, make_plugin("bad", **hooks), "plugnet-bad")
    assert record.status == "failed"
    assert message in (record.error or "")
    assert not record.components


def test_builtin_failures_always_raise(fresh_registry: Registry) -> None:
    with pytest.raises(PluginError):
        fresh_registry.add_plugin(failing_plugin(), provider="plugnet", builtin=True)


def test_a_component_that_builds_a_non_component_is_refused(fresh_registry: Registry) -> None:
    add(fresh_registry, activations_plugin("liar", (lambda: NoBackward(), "liar")), "liar")
    with pytest.raises(PluginError, match="lacks backward"):
        fresh_registry.resolve("activation", "liar")


# -- fused pairs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaveSquare:
    def backward(self, y: Any, t: Any) -> Any:
        return y - t

    def get_config(self) -> dict[str, Any]:
        return {}


def test_a_third_party_fused_pair_is_found_through_the_registry(fresh_registry: Registry) -> None:
    def register_fused_backwards(register: Any) -> None:
        register(WaveSquare, name=("wave", "plugnet:square"))

    plugin = make_plugin(
        "wavefused",
        register_activations=lambda register: register(Wave, "wave"),
        register_fused_backwards=register_fused_backwards,
    )
    add(fresh_registry, plugin, "wavefused")
    assert isinstance(fresh_registry.fused_backward("wave", "square"), WaveSquare)
    wave = fresh_registry.resolve("activation", "wave(a=3.0)")
    square = fresh_registry.resolve("error_function", "square")
    assert isinstance(fresh_registry.fused_backward(wave, square), WaveSquare)
    assert fresh_registry.fused_backward("relu", "square") is None
    assert fresh_registry.fused_backward(Wave(), square) is not None  # known class
    assert "wave+plugnet:square" in fresh_registry.available("fused_backward")


# -- the plugin API version a plugin declares ----------------------------------------------------


def declaring(version: object, name: str = "declarer") -> Any:
    plugin = activations_plugin(name, (Wave, "wave"))
    plugin.PLUGNET_API_VERSION = version
    return plugin


@pytest.fixture
def global_registry(fresh_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """``fresh_registry`` as the process-wide registry that plugnet.register_plugin uses."""
    from plugnet import discovery

    monkeypatch.setattr(discovery, "_registry", fresh_registry)
    return fresh_registry


def test_api_version_is_major_dot_minor() -> None:
    major, minor = plugnet.API_VERSION.split(".")
    assert (int(major), int(minor)) == (1, 0)


@pytest.mark.parametrize("version", ["1.0", "1.7", "1.12"])
def test_a_plugin_declaring_the_same_major_version_registers(
    global_registry: Registry, version: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a newer minor is accepted without a warning
        record = plugnet.register_plugin(declaring(version), "plugnet-declarer")
    assert record.status == "loaded"
    assert isinstance(global_registry.resolve("activation", "plugnet-declarer:wave"), Wave)


def test_a_plugin_object_may_declare_the_version_as_an_attribute(
    global_registry: Registry,
) -> None:
    class Hooks:
        PLUGNET_API_VERSION = "2.0"

        @plugnet.hookimpl
        def register_activations(self, register: Any) -> None:
            register(Wave, "wave")

    with pytest.raises(PluginError, match=r"targets plugnet plugin API 2\.0"):
        plugnet.register_plugin(Hooks(), "plugnet-hooks")


def test_register_plugin_refuses_another_major_version_naming_both(
    global_registry: Registry,
) -> None:
    plugin = declaring("2.0")
    with pytest.raises(PluginError) as info:
        plugnet.register_plugin(plugin, "plugnet-future")
    message = str(info.value)
    assert "plugnet plugin 'plugnet-future'" in message
    assert "plugin API 2.0" in message and f"plugin API {plugnet.API_VERSION}" in message
    assert global_registry.failures[0].name == "plugnet-future"
    with pytest.raises(UnknownComponentError):  # none of its hooks ran
        global_registry.resolve("activation", "plugnet-future:wave")
    assert plugin not in global_registry._manager.get_plugins()  # refused before pluggy saw it


@pytest.mark.parametrize("version", ["abc", "1", "1.0.0", "v1.0", " 1.0", "1.x", "١.٠", "9" * 40])
def test_register_plugin_refuses_a_malformed_declaration(
    global_registry: Registry, version: str
) -> None:
    with pytest.raises(PluginError, match=r"PLUGNET_API_VERSION = .* is not a version") as info:
        plugnet.register_plugin(declaring(version), "plugnet-odd")
    assert f'PLUGNET_API_VERSION = "{plugnet.API_VERSION}"' in str(info.value)  # what to write
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("version", [1.0, 1, b"1.0", ("1", "0")])
def test_a_declaration_that_is_not_a_string_is_malformed(
    global_registry: Registry, version: object
) -> None:
    with pytest.raises(PluginError, match="is not a version"):
        plugnet.register_plugin(declaring(version), "plugnet-typed")


def test_a_discovered_plugin_for_another_major_version_warns_and_is_failed(
    fresh_registry: Registry,
) -> None:
    with pytest.warns(PluginWarning) as caught:
        record = add(fresh_registry, declaring("2.3"), "plugnet-future")
    [note] = [str(w.message) for w in caught]
    assert "'plugnet-future'" in note and "plugin API 2.3" in note and "API 1.0" in note
    assert record.status == "failed" and "plugin API 2.3" in (record.error or "")
    assert not record.components
    assert isinstance(fresh_registry.resolve("activation", "relu"), ReLU)  # the rest works
    with pytest.raises(UnknownComponentError):
        fresh_registry.resolve("activation", "wave")


@dataclass(frozen=True)
class WaveV2:
    """Wave as a later release has it: the argument ``a`` is now ``alpha``."""

    alpha: float = 1.0

    def forward(self, x: Any) -> Any:
        return np.sin(self.alpha * x)

    def backward(self, x: Any, y: Any, grad: Any) -> Any:
        return grad * self.alpha * np.cos(self.alpha * x)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@pytest.mark.parametrize(
    ("entry", "failure"),
    [((WaveV2, "wave"), "refuses its saved config"), ((WaveV2, "wave2"), "cannot be rebuilt")],
    ids=["argument-renamed", "component-removed"],
)
@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_a_failed_rebuild_names_both_provider_versions_when_they_differ(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, entry: tuple[Any, ...], failure: str,
    version: str,
) -> None:  # fmt: skip
    from plugnet import discovery
    from plugnet.network import Sequential

    def use(plugin: Any, version: str) -> None:
        registry = build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
        monkeypatch.setattr(discovery, "_registry", registry)
        plugnet.register_plugin(plugin, "plugnet-waves", version)

    use(activations_plugin("waves", (Wave, "wave")), "1.0")
    net = Sequential([{"type": "dense", "units": 2, "activation": "wave(a=2.0)"}], error="square")
    net.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    net.save(tmp_path / "waves.npz")

    use(activations_plugin("waves", entry), version)  # a release that no longer takes the file
    with pytest.raises(plugnet.ModelFileError) as info:
        plugnet.load(tmp_path / "waves.npz")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'waves.npz'}: the layer 'plugnet:dense' {failure}")
    assert "plugnet-waves:wave" in message
    note = "(plugnet-waves: version 1.0 when saved, 2.0 installed)"
    assert (note in message) == (version == "2.0")
    assert ("when saved" in message) == (version == "2.0")  # nothing else is named


# -- faults while loading: BaseExceptions, interrupts, and what an unknown name says ------------


class Abort(BaseException):
    """A BaseException that is not an Exception, as a plugin might define."""


def raising_plugin(error: BaseException) -> Any:
    def register_activations(register: Any) -> None:
        register(Wave, "half_registered")
        raise error

    return make_plugin("raising", register_activations=register_activations)


def hook_plugins(registry: Registry) -> list[object]:
    """The plugins that hold a hook implementation in the registry's pluggy manager."""
    callers = [getattr(registry._manager.hook, kind.hook) for kind in KINDS.values()]
    return [impl.plugin for caller in callers for impl in caller.get_hookimpls()]


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (SystemExit(3), "SystemExit: 3"),
        (GeneratorExit("closed"), "GeneratorExit: closed"),
        (Abort("gave up"), "Abort: gave up"),
    ],
)
def test_a_plugin_raising_a_base_exception_is_isolated(
    fresh_registry: Registry, error: BaseException, text: str
) -> None:
    plugin = raising_plugin(error)
    with pytest.warns(PluginWarning) as caught:
        record = add(fresh_registry, plugin, "plugnet-raising")
    [warning] = caught
    assert "'plugnet-raising'" in str(warning.message) and text in str(warning.message)
    assert record.status == "failed" and record.error == text
    assert fresh_registry.failures == [record]
    assert plugin not in fresh_registry._manager.get_plugins()
    assert plugin not in hook_plugins(fresh_registry)
    with pytest.raises(UnknownComponentError):
        fresh_registry.resolve("activation", "half_registered")
    assert isinstance(fresh_registry.resolve("activation", "relu"), ReLU)

    other = build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    with pytest.raises(PluginError, match=f"'plugnet-raising' failed to load: {text}") as info:
        other.add_plugin(raising_plugin(error), provider="plugnet-raising", strict=True)
    assert info.value.__cause__ is error


def test_a_keyboard_interrupt_in_a_hook_propagates_and_leaves_nothing(
    fresh_registry: Registry,
) -> None:
    interrupts = [KeyboardInterrupt()]  # only the first call is interrupted

    def register_activations(register: Any) -> None:
        register(Wave, "wave")
        if interrupts:
            raise interrupts.pop()

    plugin = make_plugin("interrupted", register_activations=register_activations)
    before = [p.name for p in fresh_registry.providers]
    with pytest.raises(KeyboardInterrupt):
        add(fresh_registry, plugin, "plugnet-interrupted")
    assert [p.name for p in fresh_registry.providers] == before  # not even marked failed
    assert fresh_registry.find_provider("plugnet-interrupted", None) is None
    assert plugin not in fresh_registry._manager.get_plugins()
    assert plugin not in hook_plugins(fresh_registry)
    with pytest.raises(UnknownComponentError):
        fresh_registry.resolve("activation", "wave")

    record = add(fresh_registry, plugin, "plugnet-interrupted")  # trying again works
    assert record.status == "loaded"
    assert [c.name for c in record.components] == ["wave"]
    assert isinstance(fresh_registry.resolve("activation", "plugnet-interrupted:wave"), Wave)
    assert hook_plugins(fresh_registry).count(plugin) == 1


def test_an_interrupted_deferred_load_is_resumed_by_the_next_use(
    fresh_registry: Registry,
) -> None:
    calls = []

    def loader(registry: Registry) -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise KeyboardInterrupt
        add(registry, activations_plugin("waves", (Wave, "wave")), "plugnet-waves")

    fresh_registry.defer(loader)
    with pytest.raises(KeyboardInterrupt):
        fresh_registry.available("activation")
    assert isinstance(fresh_registry.resolve("activation", "wave"), Wave)
    assert calls == [0, 1]
    fresh_registry.available("activation")
    assert calls == [0, 1]  # loaded once it has finished, never again


def test_the_loader_can_use_the_registry_it_is_loading(fresh_registry: Registry) -> None:
    seen: dict[str, Any] = {}

    def loader(registry: Registry) -> None:
        # A plugin's import code that uses plugnet runs inside the loader: no deadlock.
        seen["relu"] = registry.resolve("activation", "relu")
        seen["available"] = registry.available("activation")
        add(registry, activations_plugin("waves", (Wave, "wave")), "plugnet-waves")

    fresh_registry.defer(loader)
    assert "wave" in fresh_registry.available("activation")
    assert isinstance(seen["relu"], ReLU)
    assert "wave" not in seen["available"]  # what was registered when it asked


def test_first_use_from_many_threads_waits_for_the_deferred_load(
    fresh_registry: Registry,
) -> None:
    """Deterministic: the load sleeps while every other thread asks for a plugin's name."""
    entered = threading.Event()
    calls = []

    def loader(registry: Registry) -> None:
        calls.append(threading.get_ident())
        entered.set()
        time.sleep(0.3)  # the other threads arrive now and must wait
        add(registry, activations_plugin("waves", (Wave, "wave")), "plugnet-waves")

    fresh_registry.defer(loader)
    readers = 16
    barrier = threading.Barrier(readers)
    results: list[Any] = [None] * readers

    def read(i: int) -> None:
        if i == 0:
            barrier.wait()
        else:
            barrier.wait()
            entered.wait(5)
        try:
            results[i] = (
                type(fresh_registry.resolve("activation", ("wave", "plugnet-waves:wave")[i % 2])),
                tuple(fresh_registry.available("activation")),
                tuple(p.name for p in fresh_registry.providers),
                len(fresh_registry.components("activation")),
            )
        except Exception as exc:  # recorded, so that the assertion shows every failure
            results[i] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=read, args=(i,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1
    assert all(result == results[0] for result in results), results
    wave, available, providers, count = results[0]
    assert wave is Wave and "wave" in available and providers == ("plugnet", "plugnet-waves")
    assert count == len(available)


def test_a_builtin_lookup_does_not_wait_for_the_deferred_load(fresh_registry: Registry) -> None:
    entered, release = threading.Event(), threading.Event()

    def loader(registry: Registry) -> None:
        entered.set()
        release.wait(10)

    fresh_registry.defer(loader)
    loading = threading.Thread(target=fresh_registry.available, args=("activation",))
    loading.start()
    try:
        assert entered.wait(5)
        answers: list[Any] = []
        lookup = threading.Thread(
            target=lambda: answers.append(fresh_registry.resolve("activation", "plugnet:relu"))
        )
        lookup.start()
        lookup.join(5)
        assert not lookup.is_alive(), "a built-in name waited for the third-party plugins"
        assert isinstance(answers[0], ReLU)
    finally:
        release.set()
        loading.join(10)


def test_a_reserved_name_warning_raised_as_an_error_keeps_the_plugin_whole(
    fresh_registry: Registry,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        with pytest.raises(PluginWarning, match="reserved"):
            add(
                fresh_registry, activations_plugin("thief", (Wave, "relu"), (Wave, "wave")), "thief"
            )
    [record] = [p for p in fresh_registry.providers if p.name == "thief"]
    assert record.status == "loaded" and len(record.components) == 2
    assert isinstance(fresh_registry.resolve("activation", "wave"), Wave)
    assert isinstance(fresh_registry.resolve("activation", "thief:relu"), Wave)


def test_an_unknown_name_mentions_the_plugins_that_failed(fresh_registry: Registry) -> None:
    with pytest.raises(UnknownComponentError) as clean:
        fresh_registry.resolve("activation", "snake")
    assert "failed to load" not in str(clean.value) and clean.value.failed == {}

    with pytest.warns(PluginWarning):
        add(fresh_registry, failing_plugin(), "plugnet-snake")
    with pytest.raises(UnknownComponentError) as info:
        fresh_registry.resolve("activation", "snake")
    message = str(info.value)
    assert info.value.failed == {"plugnet-snake": "RuntimeError: hook exploded"}
    assert (
        "1 plugin failed to load: plugnet-snake (RuntimeError: hook exploded); "
        "`plugnet plugins` shows why." in message
    )
    assert message.startswith("unknown activation 'snake'.")
    assert "Available activations: " in message

    with pytest.raises(UnknownComponentError, match="provider 'plugnet-snake' failed to load"):
        fresh_registry.resolve("activation", "plugnet-snake:snake")
    with pytest.warns(PluginWarning):
        add(fresh_registry, raising_plugin(SystemExit("x" * 300)), "plugnet-other")
    with pytest.raises(
        UnknownComponentError, match="2 plugins failed to load: plugnet-snake"
    ) as two:
        fresh_registry.resolve("error_function", "snake")
    assert len(two.value.failed["plugnet-other"]) == 120  # a long error is cut short
    assert two.value.failed["plugnet-other"].endswith("…")


# -- the global registry and the public API, in fresh processes ----------------------------------


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("PLUGNET_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )


def test_import_plugnet_loads_no_plugin_machinery() -> None:
    result = run_python(
        """
        import json, sys
        import plugnet
        heavy = ["pluggy", "importlib_metadata", "importlib.metadata", "plugnet_builtins",
                 "plugnet._registry", "plugnet.discovery"]
        print(json.dumps([m for m in heavy if m in sys.modules]))
        plugnet.activation("relu")
        plugnet.error_function("plugnet:square")
        plugnet.fused_backward("softmax", "cross_entropy")
        print(json.dumps([m for m in heavy if m in sys.modules]))
        plugnet.available("activation")
        print(json.dumps([m for m in heavy if m in sys.modules]))
        later = ["numba", "threadpoolctl", "plugnet_builtins._lanes",
                 "plugnet_builtins._jit_kernels"]
        print(json.dumps([m for m in later if m in sys.modules]))
        """
    )
    before, builtins_used, listed, first_use = (
        json.loads(line) for line in result.stdout.splitlines()
    )
    assert first_use == []  # the kernels and the lanes load when a layer first needs them
    assert before == [], result.stderr
    # Built-in names are reserved, so answering them needs no entry-point scan.
    assert {"pluggy", "plugnet_builtins", "plugnet._registry"} <= set(builtins_used)
    assert "importlib_metadata" not in builtins_used
    assert "importlib_metadata" in listed


def test_register_plugin_in_process_raises_on_an_invalid_plugin() -> None:
    result = run_python(
        """
        import numpy as np
        import plugnet

        class Cube:
            def forward(self, x): return x ** 3
            def backward(self, x, y, grad): return grad * 3 * x ** 2
            def get_config(self): return {}

        @plugnet.hookimpl
        def register_activations(register):
            register(Cube, name="cube")

        import sys
        plugnet.register_plugin(sys.modules[__name__], name="my-lab")
        print(plugnet.activation("my-lab:cube").forward(np.array([2.0]))[0])

        class Bad:
            @plugnet.hookimpl
            def register_activations(self, register):
                raise RuntimeError("nope")
        try:
            plugnet.register_plugin(Bad(), name="bad-lab")
        except plugnet.PluginError as exc:
            print("PluginError:", exc)
        """,
        PLUGNET_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "8.0"
    assert "'bad-lab' failed to load: RuntimeError: nope" in lines[1]


def test_no_warnings_when_nothing_is_wrong() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from plugnet.discovery import build_registry

        build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})


def test_signature_shortcut_agrees_with_inspect() -> None:
    """A class with object's constructor gets an empty signature without inspect's text parse;
    every built-in's parameters are what inspect.signature says."""
    import inspect

    registry = build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    for kind in KINDS:
        for component in registry.components(kind):
            expected = {
                p.name: p.default
                for p in inspect.signature(component.factory).parameters.values()
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            }
            assert component.parameters() == expected, component.name
    assert _takes_nothing(ReLU) and not _takes_nothing(Dense)

    class Made(type):
        def __call__(cls, scale: float = 1.0) -> Any:
            return super().__call__()

    class Custom(metaclass=Made):
        pass

    assert not _takes_nothing(Custom) and not _takes_nothing(int)


def test_plugin_manager_finds_what_pluggys_finds() -> None:
    """The fast lookup of a module's hooks answers as pluggy's own for every name: in each
    built-in module, and in a module holding hooks as a function, a staticmethod and a
    classmethod next to things that are not hooks."""
    import importlib
    import types

    import pluggy

    import plugnet_builtins
    from plugnet.hookspecs import PROJECT_NAME, hookimpl

    module = types.ModuleType("odd_plugin")
    exec(
        textwrap.dedent(
            """
            def register_activations(register): pass
            def helper(): pass
            class Holder:
                pass
            value = 3
            """
        ),
        vars(module),
    )
    hookimpl(module.register_activations)
    module.register_layers = hookimpl(staticmethod(lambda register: None))
    module.register_schedules = hookimpl(classmethod(lambda cls, register: None))
    module.__annotations__ = {}  # a data descriptor of the module type: pluggy decides
    module.__doc__ = hookimpl(lambda register: None)  # the type's __doc__ is a plain str
    modules = [importlib.import_module(name) for name in plugnet_builtins.PLUGIN_MODULES]
    ours = Registry()._manager
    theirs = pluggy.PluginManager(PROJECT_NAME)
    found = 0
    for plugin in [*modules, module]:
        for name in dir(plugin):
            expected = theirs.parse_hookimpl_opts(plugin, name)
            assert ours.parse_hookimpl_opts(plugin, name) == expected, (plugin, name)
            found += expected is not None
    assert found >= len(modules) + 1
    assert ours.parse_hookimpl_opts(module, "register_activations") is not None


def test_each_kind_is_one_row_with_its_hookspec() -> None:
    """A kind is its row in KINDS (name, hook, protocol, methods, title) and its hookspec; the
    catalogue's sections take their titles from the rows."""
    from plugnet import hookspecs
    from plugnet.catalogue import render

    text = render(build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    for name, kind in KINDS.items():
        assert kind.name == name and kind.title and callable(getattr(hookspecs, kind.hook))
        assert f"\n## {kind.title}\n" in text


def test_components_are_read_only() -> None:
    component = build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"}).lookup(
        "activation", "relu"
    )
    with pytest.raises(AttributeError, match="read-only"):
        component.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        del component.kind
    assert (component.name, component.kind, component.factory) == ("relu", "activation", ReLU)
    assert repr(component) == f"Component('activation', 'plugnet:relu', {ReLU!r})"
