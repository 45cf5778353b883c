"""Shared fixtures: a fresh registry with the built-ins only, and in-process plugin modules."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from plugnet._registry import Registry
from plugnet.discovery import build_registry


@pytest.fixture
def fresh_registry() -> Registry:
    """A registry with plugnet's built-ins and no entry points, separate from the global one."""
    return build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})


def make_plugin(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """A module object whose functions are marked as plugnet hook implementations."""
    from plugnet.hookspecs import hookimpl

    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        function.__name__ = hook_name
        setattr(module, hook_name, hookimpl(function))
    return module
