"""The plugin authors' kit as authors get it, in fresh virtual environments, offline:

- ``plugnet new-plugin`` generates a package that pip-installs, passes its own tests (which run
  the conformance suite through plugnet's pytest11 plugin) and ``plugnet check``; a broken
  gradient makes both fail;
- the example plugin's own test suite runs through the same pytest plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

if __package__:
    from . import _venv
else:  # the tests directory is on sys.path instead of being a package
    import _venv  # type: ignore[no-redef]

pytestmark = _venv.PYTEST_MARKS

DIST = "plugnet-scaffolded"
MODULE = "plugnet_scaffolded"
CORRECT = "return grad * (self.a * self.b) * (1.0 - tanh * tanh)"
BROKEN = "return grad * (self.a * self.b) * (1.0 + tanh * tanh)"


@pytest.fixture(scope="module")
def scaffolded(make_venv: Any, wheels: dict[str, Path], tmp_path_factory: Any) -> Any:
    """A venv with plugnet from its wheel and the generated plugin installed editable."""
    venv = make_venv("scaffold")
    venv.install(wheels["plugnet"])
    package = tmp_path_factory.mktemp("authoring") / DIST
    created = venv.run(venv.script("plugnet"), "new-plugin", DIST, "--dir", package)
    assert f"created {package}" in created.stdout
    venv.install("--no-build-isolation", "--editable", package)
    return venv, package


def run_tests(venv: Any, package: Path, *extra: str) -> Any:
    return venv.run(
        venv.python, "-m", "pytest", "-p", "no:cacheprovider", "-rf", *extra, package / "tests",
        check=False,
    )  # fmt: skip


def test_the_generated_plugin_installs_and_passes_its_tests_and_plugnet_check(
    scaffolded: Any,
) -> None:
    venv, package = scaffolded
    report = venv.plugins_report()
    [provider] = [p for p in report["providers"] if p["name"] == DIST]
    assert provider["status"] == "loaded"

    collected = run_tests(venv, package, "--collect-only", "-q")
    for test_id in (
        "test_conformance[activation:scaled_tanh-gradient]",
        "test_conformance[error_function:pseudo_huber-gradient]",
        "test_conformance[error_function:pseudo_huber-extremes]",
    ):
        assert test_id in collected.stdout, collected.stdout
    result = run_tests(venv, package, "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout

    check = venv.run(venv.script("plugnet"), "check", DIST, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "scaled_tanh" in check.stdout and "pseudo_huber" in check.stdout
    assert " 0 failed" in check.stdout


def test_a_broken_gradient_fails_the_generated_tests_and_plugnet_check(scaffolded: Any) -> None:
    venv, package = scaffolded
    module = package / "src" / MODULE / "__init__.py"
    source = module.read_text(encoding="utf-8")
    assert source.count(CORRECT) == 1
    module.write_text(source.replace(CORRECT, BROKEN), encoding="utf-8")
    try:
        result = run_tests(venv, package, "-q")
        assert result.returncode == 1, result.stdout
        assert "test_conformance[activation:scaled_tanh-gradient]" in result.stdout
        assert "gradient check failed" in result.stdout and "worst absolute error" in result.stdout
        assert "pseudo_huber-gradient" not in result.stdout.split("short test summary")[-1]

        check = venv.run(venv.script("plugnet"), "check", DIST, check=False)
        assert check.returncode == 1, check.stdout
        assert "FAIL" in check.stdout
        assert "activation:scaled_tanh-gradient: activation scaled_tanh: gradient check" in (
            check.stdout
        )
    finally:
        module.write_text(source, encoding="utf-8")


def test_new_plugin_refuses_an_existing_directory(scaffolded: Any) -> None:
    venv, package = scaffolded
    before = sorted(p.relative_to(package) for p in package.rglob("*"))
    result = venv.run(venv.script("plugnet"), "new-plugin", DIST, "--dir", package, check=False)
    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert sorted(p.relative_to(package) for p in package.rglob("*")) == before


def test_the_example_plugin_tests_run_through_the_pytest_plugin(
    make_venv: Any, wheels: dict[str, Path]
) -> None:
    venv = make_venv("example-tests")
    venv.install(wheels["plugnet"], wheels["plugnet-example-plugin"])
    tests = _venv.copy_source(_venv.EXAMPLE_PLUGIN / "tests", venv.path.parent / "tests")
    result = venv.run(
        venv.python, "-m", "pytest", "-p", "no:cacheprovider", "-v", tests, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_conformance[activation:square_plus(b=1.0)-gradient] PASSED" in result.stdout
    assert "test_conformance[error_function:log_cosh-extremes] PASSED" in result.stdout
