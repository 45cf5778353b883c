"""The docs hook ``docs/hooks/source_includes.py`` includes source by qualified name, and a name
that does not exist stops the build with a message that says what the file does define."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "docs" / "hooks" / "source_includes.py"
MARKER = re.compile(r"#\s*-+8<-+\s*\[(?:start|end):")

SOURCE = '''\
"""A module."""


def helper(x):
    return x + 1


class Layer:
    """A layer."""

    @staticmethod
    def make():
        return Layer()

    def forward(self, x):
        y = helper(x)
        return y
'''


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("source_includes", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project with pkg/mod.py, and a Python file next to it, outside it."""
    (tmp_path / "project" / "pkg").mkdir(parents=True)
    (tmp_path / "project" / "pkg" / "mod.py").write_text(SOURCE, encoding="utf-8")
    (tmp_path / "outside.py").write_text("def helper():\n    pass\n", encoding="utf-8")
    return tmp_path / "project"


def page(*lines: str) -> str:
    return "\n".join(["Text.", "", "```py", *lines, "```", ""])


def include(*targets: str) -> str:
    return page("--8<--", *targets, "--8<--")


def test_methods_resolve_dedented_with_their_decorators(hook: ModuleType, root: Path) -> None:
    markdown = include("pkg/mod.py::Layer.forward", "", "pkg/mod.py::Layer.make")
    expected = page(
        "def forward(self, x):",
        "    y = helper(x)",
        "    return y",
        "",
        "@staticmethod",
        "def make():",
        "    return Layer()",
    )
    assert hook.expand(markdown, root, "docs/x.md") == expected


def test_a_module_level_function_and_a_class_resolve(hook: ModuleType, root: Path) -> None:
    out = hook.expand(include("pkg/mod.py::helper"), root, "docs/x.md")
    assert out == page("def helper(x):", "    return x + 1")
    out = hook.expand(include("pkg/mod.py::Layer"), root, "docs/x.md")
    assert out == page(*SOURCE.splitlines()[7:])


def test_an_indented_include_keeps_its_indent(hook: ModuleType, root: Path) -> None:
    markdown = "!!! note\n    ```py\n    --8<--\n    pkg/mod.py::helper\n    --8<--\n    ```\n"
    expected = "!!! note\n    ```py\n    def helper(x):\n        return x + 1\n    ```\n"
    assert hook.expand(markdown, root, "docs/x.md") == expected


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (
            "pkg/mod.py::Layer.backward",
            "pkg/mod.py::Layer defines no 'backward'; it defines make, forward",
        ),
        ("pkg/mod.py::helpr", "pkg/mod.py defines no 'helpr'; it defines helper, Layer"),
        (
            "pkg/mod.py::helper.inner",
            "pkg/mod.py::helper defines no 'inner'; it defines no functions",
        ),
        ("pkg/other.py::helper", "there is no file pkg/other.py in"),
        ("../outside.py::helper", "there is no file ../outside.py in"),
        ("pkg/mod.py::", "write the include as PATH.py::NAME"),
        ("pkg/mod.toml::helper", "write the include as PATH.py::NAME"),
        ("pkg/mod.py", "a block that includes by name takes only PATH.py::NAME lines"),
    ],
)
def test_a_missing_name_or_file_fails_the_build(
    hook: ModuleType, root: Path, target: str, problem: str
) -> None:
    markdown = include("pkg/mod.py::helper", target)
    with pytest.raises(PluginError) as raised:
        hook.expand(markdown, root, "docs/x.md")
    message = str(raised.value)
    assert message.startswith(f"docs/x.md, line 6: {target}: ")
    assert problem in message


def test_snippets_file_and_section_includes_are_left_alone(hook: ModuleType, root: Path) -> None:
    markdown = include("pkg/mod.py:section", "pkg/mod.py") + page('--8<-- "pkg/mod.py::helper"')
    assert hook.expand(markdown, root, "docs/x.md") == markdown


def test_the_sources_carry_no_snippet_markers() -> None:
    """The docs include the core and the built-ins by name, so no marker comment is needed."""
    for file in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        text = file.read_text(encoding="utf-8")
        assert not MARKER.search(text), f"{file.relative_to(ROOT)} has a snippet marker left"
