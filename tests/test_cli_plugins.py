"""`plugnet plugins`: the table, --kind, --all, --json and bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys

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
