"""docs/catalogue.md is generated from the registry and must not go stale."""

from __future__ import annotations

from pathlib import Path

from plugnet.catalogue import main, render
from plugnet.discovery import build_registry

CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "catalogue.md"


def test_the_committed_catalogue_is_current() -> None:
    assert main(["--check", str(CATALOGUE)]) == 0, (
        "docs/catalogue.md is stale: run `python -m plugnet.catalogue`"
    )


def test_the_catalogue_lists_every_builtin_with_its_facts() -> None:
    registry = build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    text = render(registry)
    for kind in ("activation", "error_function", "layer", "optimizer", "initializer"):
        for component in registry.components(kind):
            assert f"| `{component.name}` |" in text
    assert "| `sigmoid` | `logistic` |" in text
    assert "`units, activation='identity', initializer=None, use_bias=True`" in text


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "catalogue.md"
    stale.write_text("# old\n")
    assert main(["--check", str(stale)]) == 1
    assert main([str(stale)]) == 0 and main(["--check", str(stale)]) == 0
