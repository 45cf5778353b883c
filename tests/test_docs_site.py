"""The documentation site builds with ``mkdocs build --strict``, and what the build generates is
there: the CLI reference for every subcommand, the learning curves of the real example, and
the source lines the backprop page includes. The site is built once per session (the ``site``
fixture in conftest.py)."""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path

from plugnet.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def subcommand_names() -> list[str]:
    """The subcommands of the live parser, whatever issue added them."""
    actions = build_parser()._actions
    return [
        name
        for action in actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    ]


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_the_cli_reference_documents_every_subcommand(site: Path) -> None:
    html = page(site, "cli")
    names = subcommand_names()
    assert {"plugins", "train", "evaluate", "predict"} <= set(names)
    for name in names:
        assert f"usage: plugnet {name}" in html, f"the CLI page lacks 'plugnet {name} --help'"


def test_the_learning_curves_come_from_the_digits_example(site: Path) -> None:
    image = site / "assets" / "digits-curves.png"
    assert image.read_bytes().startswith(PNG_SIGNATURE)
    html = page(site, "training")
    assert 'src="../assets/digits-curves.png"' in html
    assert "test accuracy: 0." in html  # what the example printed
    assert "digits-output" not in html


def test_the_sweep_page_shows_the_digits_sweep_and_its_plots(site: Path) -> None:
    for name in ("digits-sweep-history.png", "digits-sweep-importances.png"):
        assert (site / "assets" / name).read_bytes().startswith(PNG_SIGNATURE)
        assert f'src="../assets/{name}"' in page(site, "sweeps")
    shown = text(page(site, "sweeps"))
    assert "best: trial " in shown  # what the sweep printed
    assert "wrote examples/digits_sweep.best.toml" in shown
    assert "sweep-output" not in shown
    assert '"model.optimizer.lr" = { float' in shown  # the example, included


def text(markup: str) -> str:
    """What a reader sees: tags (such as the highlighter's spans) removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_source_includes_are_resolved(site: Path) -> None:
    backprop = text(page(site, "backprop"))
    assert "np.matmul(self.x.T, delta, out=self.grads[" in backprop
    assert "return (y - matching_target(y, t)) / y.shape[0]" in backprop
    for name in ("backprop", "design", "training"):
        assert "--8<--" not in text(page(site, name)), f"an unresolved include on {name}"


def test_the_highlighted_lines_are_the_ones_the_formulas_describe(site: Path) -> None:
    """backprop.md highlights lines of Dense.backward_linear by number (hl_lines); if the method
    changes, the numbers must follow."""
    markup = page(site, "backprop")
    highlighted = [text(line).strip() for line in re.findall(r'<span class="hll">(.*?)\n', markup)]
    assert highlighted == [
        'np.matmul(self.x.T, delta, out=self.grads["w"])',  # dE/dW = xᵀδ
        'return delta @ self.params["w"].T if need_input_grad else None',  # dE/dx = δWᵀ
        "if self.use_bias:",  # dE/db = Σ_n Δ_n
        'np.sum(delta, axis=0, out=self.grads["b"])',
    ]


def test_the_api_reference_is_rendered(site: Path) -> None:
    assert "fit" in page(site, "api/network")
    assert "numerical_gradient" in page(site, "api/testing")
    assert "fused_backward" in page(site, "api")


NOTEBOOK_PAGES = {
    # page: (its title, a line of its markdown, a line of its code)
    "backprop-from-scratch": (
        "Backpropagation from scratch",
        "because the bias branches to every sample",
        'fused = plugnet.fused_backward("softmax", "cross_entropy")',
    ),
    "train-and-look": (
        "Train and look",
        "counts the test images of digit",
        'callbacks=["early_stopping(patience=4, restore_best=True)"]',
    ),
    "im2col-and-convolution": (
        "im2col and convolution",
        "copies every window into one column of a matrix",
        'conv = plugnet.layer("conv2d(filters=4, kernel_size=3)")',
    ),
    "write-a-plugin": (
        "Write a plugin in a notebook",
        "A metric accumulates over a whole epoch",
        'check_metric("balanced_accuracy")',
    ),
}


def test_every_notebook_is_a_page_of_the_site(site: Path) -> None:
    notebooks = {path.stem for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert notebooks == set(NOTEBOOK_PAGES), "a notebook without a page, or a page without one"
    index = text((site / "index.html").read_text(encoding="utf-8"))
    for name, (title, prose, code) in NOTEBOOK_PAGES.items():
        markup = page(site, f"notebooks/{name}")
        shown = " ".join(text(markup).split())  # the markdown's line breaks as spaces
        assert f"<title>{title} - plugnet</title>" in markup
        assert prose in shown, f"{name}: the markdown cells are missing"
        assert code in shown, f"{name}: the code cells are missing"
        assert "$$" not in shown, f"{name}: display math left unmarked"
        assert title in index, f"the home page does not link {title!r}"
    # The notebooks' TeX is marked as the other pages' (for the site's math to render it), not
    # left as raw dollars; and nbconvert's own MathJax 2 loader is gone.
    backprop = page(site, "notebooks/backprop-from-scratch")
    assert "$\\sigma'(n)" not in text(backprop)
    assert backprop.count('class="arithmatex"') + backprop.count("<math") > 50
    assert "x-mathjax-config" not in backprop
