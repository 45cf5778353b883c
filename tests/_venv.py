"""Helpers for tests that install plugnet and plugins into real, throwaway virtual environments.

Everything works offline:

- :func:`build_wheels` builds wheels with ``pip wheel --no-deps --no-build-isolation --no-index``
  from *copies* of the source trees, so setuptools' ``build/`` and ``*.egg-info`` never land in
  the repository;
- :func:`dependency_dir` exposes plugnet's run-time dependencies (numpy, pluggy,
  importlib_metadata, zipp, tqdm), setuptools and pytest from the running environment, by
  symlinking just those distributions into one directory;
- :meth:`Venv.create` makes a ``python -m venv --without-pip`` environment whose site-packages
  holds a ``.pth`` file naming that directory, so the dependencies import without being
  installed, while plugnet and the plugins are installed into the venv's own site-packages
  with ``pip --python``.

Only the dependency distributions are exposed, not the running environment's whole
site-packages: otherwise the venv would also see the outer plugnet (an editable or regular
install, entry points included) and pip would consider the wheels already installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = REPO_ROOT / "examples" / "plugnet-example-plugin"
FIXTURE_PLUGINS = REPO_ROOT / "tests" / "fixtures" / "plugins"

# What a copied source tree leaves out: VCS data, caches, build artefacts, virtualenvs.
_IGNORED = shutil.ignore_patterns(
    ".git", ".hg", "__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".venv", "venv",
    ".tox", ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules",
)  # fmt: skip

# setuptools is exposed too, so that an editable install can build with --no-build-isolation,
# and pytest, so that a plugin's own test suite can run in the venv.
EXTRA_DEPENDENCIES = ("setuptools", "pytest")

PROBE_MARKER = "<<<plugnet-probe>>>"


def pip_available() -> bool:
    try:
        import pip  # noqa: F401
    except ImportError:
        return False
    return True


# The marks of every module of real-install tests: `venv`, and skipped where pip is missing.
PYTEST_MARKS = [
    pytest.mark.venv,
    pytest.mark.skipif(not pip_available(), reason="needs pip in the test environment"),
]


def clean_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without anything that would leak into a child Python or pip:
    no ``PLUGNET_*``, ``PYTHON*``, ``PIP_*`` or ``VIRTUAL_ENV`` variables; then ``overrides``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PLUGNET_", "PYTHON", "PIP_", "__PYVENV"))
        and key not in {"VIRTUAL_ENV", "CONDA_PREFIX"}
    }
    env.update(
        PYTHONNOUSERSITE="1",
        PYTHONIOENCODING="utf-8",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_CONFIG_FILE=os.devnull,
    )
    env.update(overrides or {})
    return env


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a clean environment; on failure, raise with its output."""
    result = subprocess.run(
        [os.fspath(a) for a in args],
        env=clean_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"command failed with exit status {result.returncode}: {' '.join(map(str, args))}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


def copy_source(source: Path, destination: Path) -> Path:
    """Copy a source tree without VCS data, caches and build artefacts."""
    shutil.copytree(source, destination, ignore=_IGNORED, symlinks=True)
    return destination


def _project_name(source: Path) -> str:
    text = (source / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'(?m)^name\s*=\s*"([^"]+)"', text)
    if match is None:
        raise ValueError(f"no [project] name in {source / 'pyproject.toml'}")
    return match.group(1)


def normalize_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def build_wheels(sources: Iterable[Path], work_dir: Path) -> dict[str, Path]:
    """Build one wheel per source tree (each copied first); returns ``{project name: wheel}``.

    Builds run in parallel, one ``pip wheel`` per project, all offline.
    """
    wheel_dir = work_dir / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    copies = [copy_source(src, work_dir / "src" / src.name) for src in sources]

    def build(copy: Path) -> None:
        run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--no-build-isolation", "--no-index", "--wheel-dir", wheel_dir, copy])  # fmt: skip

    with ThreadPoolExecutor(max_workers=min(len(copies), os.cpu_count() or 2, 8)) as pool:
        list(pool.map(build, copies))
    wheels: dict[str, Path] = {}
    for copy in copies:
        name = _project_name(copy)
        found = sorted(wheel_dir.glob(f"{normalize_dist(name)}-*.whl"))
        if len(found) != 1:
            raise AssertionError(f"expected one wheel for {name} in {wheel_dir}, found {found}")
        wheels[name] = found[0]
    return wheels


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    names = []
    for requirement in dist.requires or []:
        name, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", name)
        if match:
            names.append(match.group(1))
    return names


def dependency_dir(
    destination: Path, roots: Iterable[str] = ("plugnet", *EXTRA_DEPENDENCIES)
) -> list[Path]:
    """Expose the installed requirements of ``roots`` (recursively, not ``roots`` themselves
    unless listed in :data:`EXTRA_DEPENDENCIES`) from the running environment.

    Each distribution's top-level files and directories are symlinked into ``destination``.
    Returns the directories a ``.pth`` file should list: ``destination``, plus the
    site-packages of any distribution that could not be linked (no RECORD, or no symlinks).
    """
    destination.mkdir(parents=True, exist_ok=True)
    pending: list[str] = []
    for root in roots:
        try:
            dist = importlib.metadata.distribution(root)
        except importlib.metadata.PackageNotFoundError:
            continue
        pending += _requirement_names(dist)
        if root in EXTRA_DEPENDENCIES:
            pending.append(root)
    seen: set[str] = {normalize_dist(r) for r in roots if r not in EXTRA_DEPENDENCIES}
    fallback: list[Path] = []
    while pending:
        name = pending.pop()
        if normalize_dist(name) in seen:
            continue
        seen.add(normalize_dist(name))
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # e.g. a requirement whose environment marker excludes it
        pending += _requirement_names(dist)
        if not _link_distribution(dist, destination):
            fallback.append(Path(str(dist.locate_file(""))))
    return [destination, *dict.fromkeys(fallback)]


def _link_distribution(dist: importlib.metadata.Distribution, destination: Path) -> bool:
    if dist.files is None:
        return False
    tops = {
        f.parts[0]
        for f in dist.files
        if f.parts and f.parts[0] not in ("..", "__pycache__") and not f.parts[0].endswith(".pth")
    }
    for top in sorted(tops):
        source = Path(str(dist.locate_file(top)))
        target = destination / top
        if not source.exists() or target.exists():
            continue
        try:
            target.symlink_to(source, target_is_directory=source.is_dir())
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Venv:
    """A virtual environment made by :meth:`create`."""

    path: Path

    @classmethod
    def create(cls, path: Path, dependency_paths: Sequence[Path]) -> Venv:
        run([sys.executable, "-m", "venv", "--without-pip", path])
        venv = cls(path)
        venv.site_packages.mkdir(parents=True, exist_ok=True)
        (venv.site_packages / "_plugnet_test_dependencies.pth").write_text(
            "".join(f"{p}\n" for p in dependency_paths), encoding="utf-8"
        )
        return venv

    def _path(self, key: str) -> Path:
        base = {"base": str(self.path), "platbase": str(self.path)}
        return Path(sysconfig.get_path(key, scheme="venv", vars=base))

    @property
    def site_packages(self) -> Path:
        return self._path("purelib")

    @property
    def scripts(self) -> Path:
        return self._path("scripts")

    @property
    def python(self) -> Path:
        return self.scripts / ("python.exe" if os.name == "nt" else "python")

    def script(self, name: str) -> Path:
        return self.scripts / (f"{name}.exe" if os.name == "nt" else name)

    def pip(self, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
        """Run the *outer* pip against this venv's interpreter (``pip --python``)."""
        return run([sys.executable, "-m", "pip", "--python", self.python, *args])

    def install(self, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
        return self.pip("install", "--quiet", "--no-index", "--no-deps", *args)

    def uninstall(self, *names: str) -> subprocess.CompletedProcess[str]:
        return self.pip("uninstall", "--yes", *names)

    def run(
        self,
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return run(args, env=env, check=check, cwd=self.path)

    def plugins_report(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``plugnet plugins --json``, parsed (it must exit with status 0)."""
        result = self.run(self.script("plugnet"), "plugins", "--json", env=env)
        report: dict[str, Any] = json.loads(result.stdout)
        report["stderr"] = result.stderr
        return report

    def probe(self, code: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Run ``code`` after :data:`PROBE_PRELUDE` in this venv; return what it put in ``out``.

        ``out["warnings"]`` lists every warning raised while it ran (category and message).
        """
        result = self.run(self.python, "-c", PROBE_PRELUDE + code + PROBE_EPILOGUE, env=env)
        for line in result.stdout.splitlines():
            if line.startswith(PROBE_MARKER):
                data: dict[str, Any] = json.loads(line[len(PROBE_MARKER) :])
                data["stderr"] = result.stderr
                return data
        raise AssertionError(f"the probe printed no result:\n{result.stdout}\n{result.stderr}")


# Run in the venv before a probe's code: records warnings and offers ``attempt(fn)``, which
# returns {"ok": True, "value": ...} or {"ok": False, "type", "message", "bases"}.
PROBE_PRELUDE = """\
import json, sys, warnings
warnings.simplefilter("always")
_recorder = warnings.catch_warnings(record=True)
_caught = _recorder.__enter__()
warnings.simplefilter("always")
out = {}

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as exc:
        return {"ok": False, "type": type(exc).__name__, "message": str(exc),
                "bases": [c.__name__ for c in type(exc).__mro__]}

def describe(obj):
    cls = type(obj)
    return {"module": cls.__module__, "class": cls.__qualname__}

"""

PROBE_EPILOGUE = f"""
out["warnings"] = [
    {{"category": w.category.__name__, "message": str(w.message)}} for w in _caught
]
print({PROBE_MARKER!r} + json.dumps(out, default=repr))
"""
