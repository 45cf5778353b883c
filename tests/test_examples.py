"""The example scripts run as a user runs them and print what they promise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=EXAMPLES,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def value(out: str, label: str) -> float:
    match = re.search(rf"^{label}: ([-+0-9.e]+)$", out, re.MULTILINE)
    assert match is not None, f"no '{label}:' line in:\n{out}"
    return float(match[1])


def test_xor_reaches_full_accuracy() -> None:
    out = run("xor.py")
    assert value(out, "accuracy") == 1.0
    assert "predicted classes: [0, 1, 1, 0]" in out
    assert value(out, "final loss") < 0.05


def test_sine_fits_the_curve() -> None:
    out = run("sine.py")
    # noise of standard deviation 0.1 puts the best test MSE near 0.01
    assert value(out, "test mse") < 0.03
    assert value(out, "mse against the noise-free sin\\(x\\)") < 0.02
    assert value(out, "final training loss") < 0.02


def test_custom_activation_registers_and_trains() -> None:
    out = run("custom_activation.py")
    assert out.splitlines()[0] == "registered: my-lab:snake"
    assert "snake gradient check: ok" in out
    assert "hidden layer activation: Snake" in out
    assert "reloaded model agrees: True" in out
    assert value(out, "spiral test accuracy") > 0.9
