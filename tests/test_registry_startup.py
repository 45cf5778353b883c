"""The built-ins' registration without pluggy's register (start-up, issue 16) finds and checks
the same hooks that pluggy does, and builds the same registry."""

from __future__ import annotations

import functools
import importlib
import inspect
import types
from typing import Any

import pytest

import plugnet_builtins
from plugnet import _registry
from plugnet._registry import BUILTIN_PROVIDER, Registry
from plugnet.discovery import build_registry
from plugnet.errors import PluginError
from plugnet.hookspecs import hookimpl

BUILTINS_ONLY = {"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"}


class Cube:
    def forward(self, x: Any) -> Any:
        return x**3

    def backward(self, x: Any, y: Any, grad: Any) -> Any:
        return grad * 3 * x**2

    def get_config(self) -> dict[str, Any]:
        return {}


def module_with(**hooks: Any) -> types.ModuleType:
    module = types.ModuleType("startup_plugin")
    for name, function in hooks.items():
        setattr(module, name, function)
    return module


@pytest.mark.parametrize("name", plugnet_builtins.PLUGIN_MODULES)
def test_plain_hooks_are_the_ones_pluggy_registers(name: str) -> None:
    module = importlib.import_module(name)
    registry = Registry()
    registry._manager.register(module)
    registry._manager.check_pending()
    assert _registry._plain_hooks(module) == registry._hooks_of(module)
    assert registry._hooks_of(module)  # every built-in module has a hook


def describe(registry: Registry) -> list[Any]:
    components = [
        (c.kind, c.qualified_name, c.factory, c.aliases, c.builtin)
        for kind in _registry.KINDS
        for c in registry.components(kind)
    ]
    # by name: some lowerings are closures made anew by each call of the hook
    lowerings = [(target, [(low.function.__qualname__, low.provider) for low in found])
                 for target, found in registry._lowerings.items()]  # fmt: skip
    providers = [(p.name, p.modules, [c.qualified_name for c in p.components])
                 for p in registry.providers]  # fmt: skip
    return [components, lowerings, providers]


def test_the_built_ins_register_as_they_do_through_pluggy(monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_registry(BUILTINS_ONLY)
    assert not built._manager.get_plugins()  # registered without pluggy's register
    fast = describe(built)
    monkeypatch.setattr(_registry, "_plain_hooks", lambda plugin: None)
    through_pluggy = build_registry(BUILTINS_ONLY)
    assert through_pluggy._manager.get_plugins()  # the built-ins did go through pluggy
    assert describe(through_pluggy) == fast


def test_the_built_ins_make_no_plugin_manager() -> None:
    built = build_registry(BUILTINS_ONLY)
    assert "_manager" not in vars(built)  # made for the first plugin that goes through pluggy
    plugnet_plugin = module_with(register_activations=hookimpl(lambda register: register(Cube)))
    built.add_plugin(plugnet_plugin, provider="cube-lab", strict=True)
    assert built._manager.get_plugins() == {plugnet_plugin}
    assert built.lookup("activation", "cube").provider == "cube-lab"


def test_a_misspelled_hook_in_a_built_in_is_an_error() -> None:
    @hookimpl
    def register_activation(register: Any) -> None:
        register(Cube, "cube")

    module = module_with(register_activation=register_activation)
    with pytest.raises(PluginError, match="unknown hook 'register_activation'"):
        Registry().add_plugin(module, provider=BUILTIN_PROVIDER, builtin=True)
    with pytest.raises(PluginError, match="unknown hook 'register_activation'"):  # as pluggy says
        Registry().add_plugin(module, provider="lab", strict=True)


def test_a_built_in_hook_taking_what_its_spec_lacks_is_an_error() -> None:
    @hookimpl
    def register_activations(register: Any, registry: Any) -> None:
        register(Cube, "cube")

    module = module_with(register_activations=register_activations)
    with pytest.raises(PluginError, match="takes registry, which the hookspec does not give"):
        Registry().add_plugin(module, provider=BUILTIN_PROVIDER, builtin=True)
    with pytest.raises(PluginError, match="registry"):  # pluggy refuses it too
        Registry().add_plugin(module, provider="lab", strict=True)


def test_a_hook_with_marker_options_goes_to_pluggy() -> None:
    @hookimpl(tryfirst=True)
    def register_activations(register: Any) -> None:
        register(Cube, "cube")

    module = module_with(register_activations=register_activations)
    assert _registry._plain_hooks(module) is None
    registry = Registry()
    registry.add_plugin(module, provider=BUILTIN_PROVIDER, builtin=True)
    assert registry.lookup("activation", "cube").factory is Cube
    assert module in registry._manager.get_plugins()


def test_a_plain_built_in_registers_without_pluggy() -> None:
    @hookimpl
    def register_activations(register: Any, extra: Any = None) -> None:  # a default: not passed
        assert extra is None
        register(Cube, "cube")

    module = module_with(register_activations=register_activations, helper=lambda: None)
    assert _registry._plain_hooks(module) == [
        ("register_activations", register_activations, ("register",))
    ]
    registry = Registry()
    registry.add_plugin(module, provider=BUILTIN_PROVIDER, builtin=True)
    assert registry.lookup("activation", "cube").factory is Cube
    assert module not in registry._manager.get_plugins()


def _by_signature(function: Any, name: str) -> bool:
    """What _takes_keyword answered before its fast path: inspect.signature's parameters."""
    parameters = inspect.signature(function).parameters
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return (name in parameters and parameters[name].kind in kinds) or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _keyword_only(self: Any, grad: Any, *, need_input_grad: bool = True) -> Any: ...
def _positional_or_keyword(self: Any, grad: Any, need_input_grad: bool = True) -> Any: ...
def _positional_only(self: Any, grad: Any, need_input_grad: bool = True, /) -> Any: ...
def _var_keyword(self: Any, grad: Any, **options: Any) -> Any: ...
def _without(self: Any, grad: Any) -> Any: ...
def _var_positional(self: Any, *need_input_grad: Any) -> Any: ...
def _local_named(self: Any, grad: Any) -> Any:
    need_input_grad = True  # a local variable, not an argument
    return need_input_grad


@functools.wraps(_without)
def _wrapping(*args: Any, **kwargs: Any) -> Any: ...


@pytest.mark.parametrize(
    "function",
    [_keyword_only, _positional_or_keyword, _positional_only, _var_keyword, _without,
     _var_positional, _local_named, _wrapping, functools.partial(_keyword_only, None),
     *(c.factory.backward for c in build_registry(BUILTINS_ONLY).components("layer")
       if getattr(c.factory, "skips_input_grad", False))],
)  # fmt: skip
def test_takes_keyword_answers_as_the_signature_does(function: Any) -> None:
    assert _registry._takes_keyword(function, "need_input_grad") == _by_signature(
        function, "need_input_grad"
    )
