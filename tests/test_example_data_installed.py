"""The example data plugin (examples/plugnet-example-data) as users get it: built into a wheel,
pip-installed next to plugnet's wheel in a fresh venv, offline. A config names its data set and
its metric, and ``plugnet train``, ``evaluate``, ``check`` and the package's own tests run
there."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

if __package__:
    from . import _venv
else:  # the tests directory is on sys.path instead of being a package
    import _venv  # type: ignore[no-redef]

pytestmark = _venv.PYTEST_MARKS

DIST = "plugnet-example-data"
SOURCE = _venv.REPO_ROOT / "examples" / DIST
CONFIG = """
[data]
source = "moons(n=60)"
noise = 0.15
random_state = 1

[model]
seed = 0
error = "cross_entropy"
optimizer = "adam(lr=0.02)"
metrics = ["accuracy", "balanced_accuracy"]
layers = [
  { type = "dense", units = 16, activation = "tanh" },
  { type = "dense", units = 2, activation = "softmax" },
]

[training]
epochs = 40
batch_size = 16
verbose = 0
"""


@pytest.fixture(scope="module")
def data_venv(make_venv: Any, wheels: dict[str, Path], tmp_path_factory: Any) -> Any:
    built = _venv.build_wheels([SOURCE], tmp_path_factory.mktemp("example-data-build"))
    venv = make_venv("example-data")
    venv.install(wheels["plugnet"], built[DIST])
    return venv


def test_the_installed_set_is_listed_and_trains_by_name(data_venv: Any, tmp_path: Path) -> None:
    report = data_venv.plugins_report()
    [provider] = [p for p in report["providers"] if p["name"] == DIST]
    assert provider["status"] == "loaded"

    config = tmp_path / "moons.toml"
    config.write_text(CONFIG, encoding="utf-8")
    model = tmp_path / "moons.npz"
    trained = data_venv.run(data_venv.script("plugnet"), "train", config, "--out", model)
    assert trained.stdout.startswith(
        "moons: 120 samples, 2 features, 2 classes; 90 training / 30 test"
    )
    test_accuracy = re.search(r"^test accuracy: ([0-9.]+)$", trained.stdout, re.MULTILINE)
    assert test_accuracy is not None and float(test_accuracy[1]) >= 0.8
    # The plugin's metric, by name in the config, is scored on each part.
    balanced = re.search(r"^test balanced_accuracy: ([0-9.]+)$", trained.stdout, re.MULTILINE)
    assert balanced is not None and float(balanced[1]) >= 0.8
    assert re.search(r"^train balanced_accuracy: [0-9.]+$", trained.stdout, re.MULTILINE)

    scored = data_venv.run(
        data_venv.script("plugnet"), "evaluate", model, "--data", "moons(n=60, noise=0.15)",
        "--seed", "1", "--json",
    )  # fmt: skip
    result = json.loads(scored.stdout)
    assert (result["split"], result["samples"]) == ("test", 30)
    assert f"{result['accuracy']:.4f}" == test_accuracy[1]  # the test split training held out


def test_the_installed_set_passes_plugnet_check_and_its_own_tests(data_venv: Any) -> None:
    checked = data_venv.run(data_venv.script("plugnet"), "check", DIST)
    assert "moons" in checked.stdout and "balanced_accuracy" in checked.stdout
    assert ", 0 failed" in checked.stdout
    tests = data_venv.run(
        data_venv.python, "-m", "pytest", "-p", "no:cacheprovider", "-q", SOURCE / "tests",
        check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    # the five data set checks (protocol, splits, reproducible, disjoint, config), the eight
    # metric checks (protocol, targets, finite, batch_split, reset, dtype, mutation, config)
    # and the package's two tests of its own
    assert re.search(r"\b15 passed\b", tests.stdout), tests.stdout
