"""``plugnet new-plugin``: a ready plugin package that installs, registers an activation and an
error function, and passes its own conformance tests as generated."""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from pathlib import Path
from string import Template

from plugnet._version import API_VERSION, __version__

# PEP 508 / the packaging specification's project names.
_DISTRIBUTION_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_TAKEN = {"plugnet", "plugnet_builtins"}


def module_name(distribution: str) -> str:
    """The import name for a distribution name: lower case, runs of ``-_.`` as one ``_``.

    Raises ValueError, saying why, when ``distribution`` is not a valid distribution name or
    gives no usable Python package name.
    """
    if not _DISTRIBUTION_NAME.match(distribution):
        raise ValueError(
            f"{distribution!r} is not a valid distribution name: use letters, digits, '-', '_' "
            f"and '.', starting and ending with a letter or digit (e.g. plugnet-mish)"
        )
    module = re.sub(r"[-_.]+", "_", distribution).lower()
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ValueError(
            f"{distribution!r} gives the Python package name {module!r}, which is not a valid "
            f"identifier; start the name with a letter (e.g. plugnet-{distribution})"
        )
    if module in _TAKEN:
        raise ValueError(f"{distribution!r} is taken by plugnet itself; choose another name")
    return module


def create(distribution: str, directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write the package for ``distribution`` into ``directory`` (default ``./distribution``),
    which must not exist yet; returns the files written. Nothing is left behind on failure."""
    module = module_name(distribution)
    target = Path(directory if directory is not None else distribution)
    if target.exists() or target.is_symlink():
        raise FileExistsError(
            f"{target} already exists; new-plugin never overwrites. Choose another --dir or "
            f"remove it first"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    values = {
        "dist": distribution,
        "module": module,
        "plugnet_version": __version__,
        "api_version": API_VERSION,
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{module}/__init__.py": MODULE,
        f"tests/test_{module}.py": TESTS,
        ".gitignore": GITIGNORE,
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for relative, template in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Template(template).substitute(values), encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / relative for relative in files]


def new_plugin(distribution: str, directory: str | os.PathLike[str] | None = None) -> int:
    """:func:`create` the package and print its files and the next steps, as ``plugnet
    new-plugin`` does; returns the exit status, 0."""
    files = create(distribution, directory)
    root = files[0].parent
    print(f"created {root}/ for the distribution {distribution!r}:")
    for path in files:
        print(f"  {path.relative_to(root)}")
    print(
        f'\nnext:\n  cd {root}\n  pip install -e ".[test]"\n  pytest\n'
        f"  plugnet check {distribution}\n"
        f"then edit src/{module_name(distribution)}/__init__.py; README.md says how to publish."
    )
    return 0


PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "plugnet components: the scaled_tanh activation and the pseudo_huber error"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["plugnet>=$plugnet_version", "numpy>=1.26"]

[project.optional-dependencies]
test = ["pytest>=8"]

# How plugnet finds this plugin: the module holds the @plugnet.hookimpl functions.
[project.entry-points.plugnet]
$module = "$module"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

MODULE = '''\
"""$dist: plugnet components.

Each component is a class whose instances satisfy a plugnet protocol; the hook functions at the
bottom register them by name. After ``pip install`` they are available as
``plugnet.activation("scaled_tanh")`` and ``plugnet.error_function("pseudo_huber")``, or by
their qualified names ``$dist:scaled_tanh`` and ``$dist:pseudo_huber``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import plugnet

# The plugnet plugin API this module is written for; plugnet refuses it, saying so, if it
# implements another major version.
PLUGNET_API_VERSION = "$api_version"


class ScaledTanh:
    """Scaled tanh (LeCun, 1998): y = a·tanh(b·x); dy/dx = a·b·(1 − tanh²(b·x))."""

    def __init__(self, a: float = 1.7159, b: float = 2.0 / 3.0) -> None:
        self.a = float(a)
        self.b = float(b)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.a * np.tanh(self.b * x)

    def backward(self, x: np.ndarray, y: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """dE/dx = dE/dy ⊙ dy/dx."""
        tanh = np.tanh(self.b * x)
        return grad * (self.a * self.b) * (1.0 - tanh * tanh)

    def get_config(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}


class PseudoHuber:
    """Pseudo-Huber error: E = (1/N) Σ δ²(√(1 + (d/δ)²) − 1) with d = y − t, summed over
    each sample's outputs and averaged over the N samples of the batch.

    dE/dy = d / √(1 + (d/δ)²) / N: like the square error near 0, like δ·|d| far away.
    """

    def __init__(self, delta: float = 1.0) -> None:
        if not delta > 0:
            raise ValueError(f"delta must be > 0, got {delta!r}")
        self.delta = float(delta)

    def forward(self, y: np.ndarray, t: np.ndarray) -> float:
        d = (y - t) / self.delta
        return float(self.delta**2 * np.sum(np.hypot(1.0, d) - 1.0) / y.shape[0])

    def backward(self, y: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = (y - t) / self.delta
        return self.delta * d / np.hypot(1.0, d) / y.shape[0]

    def get_config(self) -> dict[str, Any]:
        return {"delta": self.delta}


@plugnet.hookimpl
def register_activations(register: Any) -> None:
    register(ScaledTanh, name="scaled_tanh", aliases=("lecun_tanh",))


@plugnet.hookimpl
def register_error_functions(register: Any) -> None:
    register(PseudoHuber, name="pseudo_huber")
'''

TESTS = '''\
"""Tests of $dist: the plugnet conformance suite on every component, plus known values."""

import math

import numpy as np
import pytest

import plugnet


# One test per component per check, e.g. test_conformance[activation:scaled_tanh-gradient]:
# gradients against finite differences, dtypes, no mutation, config round trip, extremes.
@pytest.mark.plugnet_conformance("$dist")
def test_conformance(conformance_check):
    conformance_check()


def test_scaled_tanh_values():
    act = plugnet.activation("$dist:scaled_tanh")
    x = np.array([[-2.0, 0.0, 1.0]])
    expected = [[1.7159 * math.tanh(2.0 / 3.0 * v) for v in x[0]]]
    np.testing.assert_allclose(act.forward(x), expected, rtol=1e-12)


def test_pseudo_huber_value():
    err = plugnet.error_function("pseudo_huber(delta=2.0)")
    y, t = np.array([[3.0, 0.0], [1.0, 1.0]]), np.zeros((2, 2))
    per_sample = [4.0 * (math.sqrt(1.0 + 1.5**2) - 1.0), 2 * 4.0 * (math.sqrt(1.25) - 1.0)]
    assert err.forward(y, t) == pytest.approx(sum(per_sample) / 2)
'''

README = """\
# $dist

[plugnet](https://pypi.org/project/plugnet/) components:

- the activation `scaled_tanh` (alias `lecun_tanh`): y = a·tanh(b·x);
- the error function `pseudo_huber`: a smooth Huber error.

## Install

```bash
pip install -e ".[test]"      # from this directory, while you develop
pip install $dist             # once it is published
```

plugnet finds the components through the `plugnet` entry point in `pyproject.toml`:

```bash
plugnet plugins                     # $dist is listed as loaded
```

```python
import plugnet

net = plugnet.Sequential(
    [{"type": "dense", "units": 8, "activation": "scaled_tanh"}, {"type": "dense", "units": 1}],
    error="pseudo_huber(delta=0.5)",
)
```

## Test

```bash
pytest                      # one test per component per check, plus the value tests
plugnet check $dist         # the same conformance suite as a table
```

The conformance suite checks gradients against finite differences in float64, dtypes, that
inputs are not modified, the config round trip and extreme inputs. Add your components to
`src/$module/__init__.py` and register them in the hook functions; the suite picks them up.

## Publish

```bash
pip install build twine
python -m build             # writes dist/*.whl and dist/*.tar.gz
twine upload dist/*         # to PyPI; users then run: pip install $dist
```
"""

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
.venv/
"""
