"""Write an activation, register it in-process, and train with it by name.

    python examples/custom_activation.py

A plugin is any module with ``@plugnet.hookimpl`` functions; here that module is this script.
To publish the activation instead, put the same code in a package and declare it under
``[project.entry-points.plugnet]`` (see examples/plugnet-example-plugin/).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import plugnet
from plugnet.datasets import spiral, split
from plugnet.testing import check_activation_gradient


class Snake:
    """Snake (Liu Ziyin et al., 2020): y = x + sin²(a·x) / a;  dy/dx = 1 + sin(2a·x)."""

    def __init__(self, alpha: float = 1.0) -> None:
        if not alpha > 0:
            raise ValueError(f"snake needs alpha > 0, got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x + np.square(np.sin(self.alpha * x)) / self.alpha

    def backward(self, x: np.ndarray, y: np.ndarray, grad: np.ndarray) -> np.ndarray:
        return grad * (1.0 + np.sin(2.0 * self.alpha * x))  # dE/dx = dE/dy · dy/dx

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}  # what it takes to rebuild it by name


@plugnet.hookimpl
def register_activations(register: Any) -> None:
    register(Snake, name="snake")


plugnet.register_plugin(sys.modules[__name__], name="my-lab")

snake = plugnet.activation("snake(alpha=2.0)")  # by name, with a hyperparameter
component = plugnet.registry().component_of(snake)
assert component is not None
print(f"registered: {component.qualified_name}")
check_activation_gradient(snake, np.linspace(-3, 3, 13).reshape(1, -1))
print("snake gradient check: ok")

parts = split(spiral(n=100, classes=3, noise=0.2, seed=0), test_size=0.25, random_state=0)
train, test = parts.train, parts.test
assert test is not None
net = plugnet.Sequential(
    [
        {"type": "dense", "units": 64, "activation": "snake(alpha=2.0)"},  # ours, by name
        {"type": "dense", "units": 3, "activation": "softmax"},
    ],
    error="cross_entropy",
    optimizer="adam(lr=0.01)",
    seed=0,
)
net.fit(train.x, train.t, epochs=100, batch_size=32, verbose=0)
print(f"hidden layer activation: {type(net[0].activation).__name__}")
print(f"spiral train accuracy: {net.evaluate(train.x, train.t)['accuracy']:.4f}")
print(f"spiral test accuracy: {net.evaluate(test.x, test.t)['accuracy']:.4f}")

# A saved model names the activation "my-lab:snake"; loading rebuilds it through the registry,
# so the plugin must be registered (or installed) wherever the model is loaded.
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "snake-model.npz"
    net.save(str(path))
    again = plugnet.load(path)
print(f"reloaded model agrees: {np.array_equal(again.predict(test.x), net.predict(test.x))}")
