"""Where an error function's outputs y and targets t live, and the check that a network's output
layer can feed its error function.

An error function declares its domain as ``conformance.domain`` (one of :data:`DOMAINS`; the
default is ``"real"``). The conformance kit draws test inputs from it; ``fit`` checks the
network's first outputs against it before the first update, because a mismatch trains in silence:
cross-entropy on logits clips every negative output to ε and reports a meaningless loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.protocols import Array, conformance_of

DOMAINS: dict[str, str] = {
    "real": "y and t any real numbers (regression)",
    "probabilities": "rows of y and t are probability distributions (y > 0)",
    "log_probabilities": "rows of y are log-probabilities, rows of t probability distributions",
    "binary": "y in (0, 1), t in {0, 1}",
    "signs": "y real, t in {-1, +1}",
    "positive": "y > 0 and t ≥ 0 (rates, counts)",
}

# Slack for rounding: float32 softmax rows sum to 1 within ~1e-6.
TOLERANCE = 1e-3

_OUTPUT_FIX = {
    "probabilities": "activation='softmax' on the last layer (plugnet fuses softmax with "
    "cross-entropy, which is what PyTorch's CrossEntropyLoss does with logits)",
    "log_probabilities": "activation='log_softmax' on the last layer",
    "binary": "activation='sigmoid' on the last layer",
    "positive": "an activation with positive outputs on the last layer, such as 'softplus'",
}


def check_domain(domain: Any, owner: str) -> str:
    """``domain`` if it is one of :data:`DOMAINS`, else a ValueError saying what is allowed."""
    if domain not in DOMAINS:
        raise ValueError(
            f"{owner} declares the domain {domain!r}; it must be one of "
            f"{', '.join(map(repr, DOMAINS))}"
        )
    return str(domain)


def domain_of(error: Any) -> str:
    """The domain an error function declares (``"real"`` when it declares none)."""
    return check_domain(conformance_of(error).domain, type(error).__name__)


def _distribution_rows(a: Array) -> bool:
    rows = a.reshape(a.shape[0], -1)
    sums = rows.sum(axis=1, dtype=np.float64)
    return bool(
        rows.min() >= -TOLERANCE
        and rows.max() <= 1 + TOLERANCE
        and np.all(np.abs(sums - 1.0) <= TOLERANCE)
    )


def _range(a: Array) -> str:
    return f"from {float(a.min()):.4g} to {float(a.max()):.4g}"


def output_problem(domain: str, y: Array, t: Array) -> str | None:
    """What is wrong with outputs ``y`` and targets ``t`` for an error of ``domain``, or None."""
    with np.errstate(all="ignore"):
        if domain in ("probabilities", "log_probabilities"):
            per_row = int(np.prod(y.shape[1:]))
            if per_row < 2:
                return (
                    "the output has one unit, and a distribution over one class is always 1, so "
                    "the loss would say nothing. For two classes use one sigmoid unit with "
                    "binary_cross_entropy, or two softmax units with cross_entropy"
                )
            probabilities = np.exp(y) if domain == "log_probabilities" else y
            if not _distribution_rows(probabilities):
                what = "probabilities" if domain == "probabilities" else "log-probabilities"
                sums = probabilities.reshape(len(y), -1).sum(axis=1)
                return (
                    f"its rows must be {what} of classes (values in [0, 1] summing to 1), but "
                    f"the network's outputs run {_range(y)} and their rows sum "
                    f"{_range(sums)}. Use {_OUTPUT_FIX[domain]}"
                )
            if not _distribution_rows(t):
                return (
                    f"its targets must be one-hot rows or distributions, but their values run "
                    f"{_range(t)} and their rows sum {_range(t.reshape(len(t), -1).sum(axis=1))}. "
                    f"For several labels per sample use sigmoid outputs with binary_cross_entropy"
                )
        elif domain == "binary":
            if y.min() < -TOLERANCE or y.max() > 1 + TOLERANCE:
                return (
                    f"its outputs must lie in [0, 1], but the network's run {_range(y)}. "
                    f"Use {_OUTPUT_FIX['binary']}"
                )
            if t.min() < 0 or t.max() > 1:
                return f"its targets must lie in [0, 1], but they run {_range(t)}"
        elif domain == "positive" and y.min() < 0:
            return (
                f"its outputs must be positive, but the network's run {_range(y)}. "
                f"Use {_OUTPUT_FIX['positive']}"
            )
    return None
