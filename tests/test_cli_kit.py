"""``plugnet check`` and ``plugnet new-plugin``, run in-process."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet import discovery
from plugnet.cli import main
from plugnet.scaffold import module_name


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_check_prints_a_table_of_component_by_check(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", "relu", "dense", "adam")
    assert status == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("activation "))
    assert header.split() == [
        "activation", "protocol", "gradient", "dtype", "mutation", "config", "extremes", "onnx",
        "worst", "error",
    ]  # fmt: skip
    relu = next(line for line in lines if line.startswith("relu "))
    assert relu.split()[1:8] == ["ok"] * 7 and float(relu.split()[8]) < 1e-6
    assert any(line.startswith("dense(units=3)") for line in lines)
    assert lines[-1].endswith("0 failed")


def test_check_selects_a_provider_or_a_kind(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", "--kind", "optimizer", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["failed"] == 0
    checked = {r["component"] for r in report["results"]}
    assert checked == set(plugnet.available("optimizer"))
    assert {r["check"] for r in report["results"]} == {
        "protocol", "descent", "state", "dtype", "mutation", "config",
    }  # fmt: skip

    status, out, _ = run(capsys, "check", "plugnet", "--kind", "initializer", "--json")
    assert status == 0
    assert {r["component"] for r in json.loads(out)["results"]} == set(
        plugnet.available("initializer")
    )


def test_check_of_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "check", "no_such_thing")
    assert status == 2
    assert "'no_such_thing' is neither an installed provider" in err


class OffGradient:
    def forward(self, x: Any) -> Any:
        return np.tanh(x)

    def backward(self, x: Any, y: Any, grad: Any) -> Any:
        return 0.99 * grad * (1.0 - y * y)

    def get_config(self) -> dict[str, Any]:
        return {}


def test_check_exits_1_and_names_the_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        discovery, "_registry", discovery.build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    )
    plugin = types.ModuleType("lab_plugin")

    @plugnet.hookimpl
    def register_activations(register: Any) -> None:
        register(OffGradient, name="off_tanh")

    plugin.register_activations = register_activations  # type: ignore[attr-defined]
    plugnet.register_plugin(plugin, name="my-lab")
    status, out, _ = run(capsys, "check", "my-lab")
    assert status == 1
    row = next(line for line in out.splitlines() if line.startswith("my-lab:off_tanh"))
    assert row.split()[1:7] == ["ok", "FAIL", "ok", "ok", "ok", "ok"]
    assert "activation:off_tanh-gradient: activation off_tanh: gradient check failed" in out
    assert "worst relative error 0.01" in out
    assert out.splitlines()[-1] == "6 checks of 1 components: 5 passed, 1 failed"


def test_new_plugin_writes_a_complete_package(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "pkgs" / "plugnet-lab"
    status, out, _ = run(capsys, "new-plugin", "Plugnet.Lab", "--dir", str(target))
    assert status == 0 and f"created {target}/" in out
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        ".gitignore", "README.md", "pyproject.toml", "src/plugnet_lab/__init__.py",
        "tests/test_plugnet_lab.py",
    ]  # fmt: skip
    pyproject = (target / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "Plugnet.Lab"' in pyproject
    assert '[project.entry-points.plugnet]\nplugnet_lab = "plugnet_lab"' in pyproject
    tests = (target / "tests" / "test_plugnet_lab.py").read_text(encoding="utf-8")
    assert '@pytest.mark.plugnet_conformance("Plugnet.Lab")' in tests
    readme = (target / "README.md").read_text(encoding="utf-8")
    for step in ("## Install", "## Test", "## Publish", "twine upload"):
        assert step in readme
    assert list(tmp_path.joinpath("pkgs").iterdir()) == [target]  # no staging left behind


def test_the_generated_module_works_in_process(tmp_path: Path) -> None:
    target = tmp_path / "plugnet-inproc"
    assert main(["new-plugin", "plugnet-inproc", "--dir", str(target)]) == 0
    sys.path.insert(0, str(target / "src"))
    try:
        import plugnet_inproc  # type: ignore[import-not-found]

        from plugnet.testing import check_activation, check_error_function

        assert plugnet_inproc.PLUGNET_API_VERSION == plugnet.API_VERSION
        check_activation(plugnet_inproc.ScaledTanh())
        check_error_function(plugnet_inproc.PseudoHuber(delta=0.5))
    finally:
        sys.path.remove(str(target / "src"))
        sys.modules.pop("plugnet_inproc", None)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("my plugin", "not a valid distribution name"),
        ("_underscore", "not a valid distribution name"),
        ("trailing-", "not a valid distribution name"),
        ("1st-plugin", "not a valid identifier"),
        ("class", "not a valid identifier"),
        ("Plugnet", "taken by plugnet itself"),
    ],
)
def test_new_plugin_rejects_bad_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, problem: str
) -> None:
    status, _, err = run(capsys, "new-plugin", name, "--dir", str(tmp_path / "x"))
    assert status == 2 and problem in err
    assert not (tmp_path / "x").exists()


def test_new_plugin_never_overwrites(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    existing = tmp_path / "plugnet-x"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine", encoding="utf-8")
    status, _, err = run(capsys, "new-plugin", "plugnet-x", "--dir", str(existing))
    assert status == 2 and "already exists; new-plugin never overwrites" in err
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_module_names_follow_the_normalization_rule() -> None:
    assert module_name("plugnet-Mish") == "plugnet_mish"
    assert module_name("a.b--c__d") == "a_b_c_d"
