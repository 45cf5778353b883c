"""`plugnet plugins`: the table, --kind, --all, --json and bad arguments."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types

import pytest

import plugnet
from plugnet import __version__
from plugnet.cli import main


def test_table_lists_the_builtin_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    header, builtin = out.splitlines()[:2]
    assert header.split() == ["PROVIDER", "VERSION", "STATUS", "COMPONENTS"]
    assert builtin.split()[:4] == ["plugnet", "(built-in)", __version__, "loaded"]
    count = len(plugnet.registry().components("activation"))
    assert f"{count} activation" in builtin


def test_kind_filter_lists_names_and_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--kind", "activation"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if "activation: " in row)
    assert "relu" in line and "sigmoid (logistic)" in line and "softmax" in line
    assert "plugnet:relu  (plugnet_builtins.activations:ReLU)" in out  # the details follow
    assert "cross_entropy" not in out


def test_all_shows_factories_parameters_and_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--all"]) == 0
    out = capsys.readouterr().out
    assert "plugnet:relu  (plugnet_builtins.activations:ReLU)" in out
    assert "y = max(0, x)" in out
    assert "fused_backward: softmax+cross_entropy" in out


def test_json_holds_the_same_facts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json", "--all"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["plugnet_version"] == __version__
    builtin = next(p for p in report["providers"] if p["builtin"])
    assert (builtin["name"], builtin["version"], builtin["status"]) == (
        "plugnet",
        __version__,
        "loaded",
    )
    names = [c["name"] for c in builtin["components"]["activation"]]
    assert {"identity", "relu", "sigmoid", "softmax"} <= set(names)
    sigmoid = builtin["components"]["activation"][names.index("sigmoid")]
    assert sigmoid["aliases"] == ["logistic"] and sigmoid["qualified_name"] == "plugnet:sigmoid"
    assert sigmoid["factory"] == "plugnet_builtins.activations:Sigmoid"
    fused = builtin["components"]["fused_backward"][0]
    assert fused["pair"] == ["softmax", "cross_entropy"]
    assert "plugnet_builtins.fused" in builtin["modules"]


def test_json_kind_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json", "--kind", "error_function"]) == 0
    builtin = json.loads(capsys.readouterr().out)["providers"][0]
    assert list(builtin["components"]) == ["error_function"]


@pytest.mark.parametrize("argv", [["plugins", "--kind", "activations"], ["plugins", "--bogus"], []])
def test_bad_arguments_exit_with_status_2(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "plugnet", *argv], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "usage: plugnet" in result.stderr


def test_requirements_pin_plugnet_and_each_plugin_distribution(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugnet import discovery
    from plugnet.errors import PluginWarning

    registry = discovery.build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    # As the entry-point loader records them: a distribution with two entry points, one that
    # failed to load, one disabled, one entry point without a distribution, and an in-process
    # plugin (no entry point at all).
    registry.add_plugin(
        types.ModuleType("zeta"), provider="plugnet-zeta", version="2.0", entry_point="z"
    )
    registry.add_plugin(
        types.ModuleType("zeta2"), provider="plugnet-zeta", version="2.0", entry_point="z2"
    )
    registry.add_plugin(
        types.ModuleType("alpha"), provider="Plugnet_Alpha", version="0.3.1", entry_point="a"
    )
    with pytest.warns(PluginWarning):
        registry.record_failure(
            registry.provider_record("plugnet-broken", "1.0", "broken", False), ImportError("x")
        )
    registry.add_disabled("plugnet-off", "0.9", "off")
    registry.add_plugin(
        types.ModuleType("loose"), provider="loose", version="", entry_point="loose"
    )
    registry.add_plugin(types.ModuleType("lab"), provider="my-lab", entry_point=None)
    monkeypatch.setattr(discovery, "_registry", registry)

    assert main(["plugins", "--requirements"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if not line.startswith("#")] == [
        f"plugnet=={__version__}",
        "Plugnet_Alpha==0.3.1",
        "plugnet-broken==1.0  # fails to load here",
        "plugnet-off==0.9  # disabled here",
        "plugnet-zeta==2.0",
    ]
    assert "# loose: entry point 'loose' has no distribution" in lines
    assert "# my-lab: registered in-process, not a distribution" in lines


def test_requirements_file_parses_as_requirements() -> None:
    # pip's rules: a line starting with '#' is a comment, as is whitespace + '#' to the end;
    # what is left must be a requirement (packaging is pip's and pytest's parser).
    from packaging.requirements import Requirement

    from plugnet.discovery import build_registry
    from plugnet.plugins_report import requirements

    registry = build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    registry.add_disabled("plugnet-off", "0.9", "off")
    lines = [re.sub(r"\s+#.*", "", line) for line in requirements(registry.providers).splitlines()]
    parsed = [Requirement(line) for line in lines if not line.startswith("#")]
    assert [(r.name, str(r.specifier)) for r in parsed] == [
        ("plugnet", f"=={__version__}"),
        ("plugnet-off", "==0.9"),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--requirements", "--kind", "layer"], "drop --kind/--all"),
        (["--requirements", "--all"], "drop --kind/--all"),
        (["--requirements", "--json"], "not allowed with argument --requirements"),
    ],
)
def test_requirements_refuse_the_component_options(argv: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "plugnet", "plugins", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
