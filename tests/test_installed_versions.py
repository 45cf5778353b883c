"""A plugin that targets another major plugin API version, installed for real (see
tests/test_installed.py): the fixture plugnet-future-api declares ``PLUGNET_API_VERSION = "2.0"``
and is otherwise valid. One venv holds plugnet, the example plugin (which declares "1.0") and it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import plugnet

if __package__:
    from . import _venv
else:  # the tests directory is on sys.path instead of being a package
    import _venv  # type: ignore[no-redef]

Venv = _venv.Venv

pytestmark = _venv.PYTEST_MARKS

EXAMPLE = "plugnet-example-plugin"
FUTURE = "plugnet-future-api"


@pytest.fixture(scope="module")
def versions_venv(make_venv: Any, wheels: dict[str, Path]) -> Venv:
    venv: Venv = make_venv("versions")
    venv.install(wheels["plugnet"], wheels[EXAMPLE], wheels[FUTURE])
    return venv


def both_versions_named(message: str) -> bool:
    return "plugin API 2.0" in message and f"plugin API {plugnet.API_VERSION}" in message


def test_a_plugin_for_another_major_version_is_reported_failed(versions_venv: Venv) -> None:
    report = versions_venv.plugins_report()
    by_name = {p["name"]: p for p in report["providers"]}
    assert {name: p["status"] for name, p in by_name.items()} == {
        "plugnet": "loaded",
        EXAMPLE: "loaded",  # declares the current version
        FUTURE: "failed",
    }
    assert both_versions_named(by_name[FUTURE]["error"])
    assert by_name[FUTURE]["components"] == {}
    [note] = report["warnings"]
    assert f"plugnet plugin '{FUTURE}'" in note and both_versions_named(note)
    assert "Traceback" not in report["stderr"]


def test_everything_else_still_works(versions_venv: Venv) -> None:
    out = versions_venv.probe(
        """
import numpy as np
import plugnet

out["api"] = plugnet.API_VERSION
import plugnet_example_plugin
out["example_declares"] = plugnet_example_plugin.PLUGNET_API_VERSION
out["example"] = attempt(lambda: float(plugnet.activation("square_plus").forward(np.ones(1))[0]))
out["relu"] = attempt(lambda: describe(plugnet.activation("relu")))
out["future"] = attempt(lambda: plugnet.activation("future_identity"))
"""
    )
    assert out["api"] == out["example_declares"] == plugnet.API_VERSION
    assert out["example"]["ok"] and out["relu"]["ok"]
    assert out["future"]["type"] == "UnknownComponentError"
    [warning] = out["warnings"]  # once, although three lookups loaded the plugins
    assert warning["category"] == "PluginWarning"
    assert FUTURE in warning["message"] and both_versions_named(warning["message"])


def test_strict_mode_raises_naming_both_versions(versions_venv: Venv) -> None:
    out = versions_venv.probe(
        """
import plugnet
out["first"] = attempt(lambda: plugnet.activation("relu"))
""",
        env={"PLUGNET_STRICT_PLUGINS": "1"},
    )
    assert out["first"]["type"] == "PluginError"
    assert f"plugnet plugin '{FUTURE}'" in out["first"]["message"]
    assert both_versions_named(out["first"]["message"])
    assert out["warnings"] == []
