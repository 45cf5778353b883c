"""Shared fixtures: a fresh registry with the built-ins only, the documentation site (built once
per session), in-process plugin modules, and wheels and throwaway virtual environments for the
real-install tests (see tests/_venv.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from plugnet._registry import Registry
from plugnet.discovery import build_registry


@pytest.fixture
def fresh_registry() -> Registry:
    """A registry with plugnet's built-ins and no entry points, separate from the global one."""
    return build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation site, built once with ``mkdocs build --strict`` (no warnings)."""
    out = tmp_path_factory.mktemp("site")
    config = str(Path(__file__).resolve().parents[1] / "mkdocs.yml")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config, "-d", str(out)],
        cwd=tmp_path_factory.mktemp("cwd"),  # the build must not depend on the working directory
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    assert "WARNING" not in result.stderr, result.stderr
    return out


def make_plugin(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """A module object whose functions are marked as plugnet hook implementations."""
    from plugnet.hookspecs import hookimpl

    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        function.__name__ = hook_name
        setattr(module, hook_name, hookimpl(function))
    return module


def _venv_helpers() -> Any:
    if __package__:
        from . import _venv
    else:  # the tests directory is on sys.path instead of being a package
        import _venv  # type: ignore[no-redef]
    return _venv


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels of plugnet, the example plugin and every fixture plugin, built once, offline."""
    _venv = _venv_helpers()
    sources = [
        _venv.REPO_ROOT,
        _venv.EXAMPLE_PLUGIN,
        *sorted(p for p in _venv.FIXTURE_PLUGINS.iterdir() if (p / "pyproject.toml").exists()),
    ]
    built: dict[str, Path] = _venv.build_wheels(sources, tmp_path_factory.mktemp("build"))
    return built


@pytest.fixture(scope="session")
def dependency_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    paths: list[Path] = _venv_helpers().dependency_dir(tmp_path_factory.mktemp("deps"))
    return paths


@pytest.fixture(scope="session")
def make_venv(
    tmp_path_factory: pytest.TempPathFactory, dependency_paths: list[Path]
) -> Iterator[Any]:
    """``make_venv(name)``: a fresh venv that sees plugnet's dependencies, pytest and
    setuptools, but not plugnet itself."""
    _venv = _venv_helpers()

    def make(name: str) -> Any:
        return _venv.Venv.create(tmp_path_factory.mktemp(name) / "venv", dependency_paths)

    yield make
