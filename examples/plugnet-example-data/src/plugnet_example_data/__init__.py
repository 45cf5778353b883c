"""plugnet-example-data: a third-party plugnet plugin that adds a data set and a metric by name.

plugnet finds this module through the entry point in pyproject.toml::

    [project.entry-points.plugnet]
    example_data = "plugnet_example_data"

and calls ``register_datasets`` and ``register_metrics`` below. Once the package is installed,
a training config says ``[data] source = "moons"`` (or ``"moons(n=200, noise=0.2)"``, or
``"plugnet-example-data:moons"``) and ``[model] metrics = ["balanced_accuracy"]``, and
``plugnet evaluate MODEL --data moons`` scores its test split.
"""

from __future__ import annotations

from plugnet.hookspecs import Register, hookimpl  # hookimpl is also plugnet.hookimpl
from plugnet_example_data.datasets import Moons
from plugnet_example_data.metrics import BalancedAccuracy

__all__ = [
    "PLUGNET_API_VERSION",
    "BalancedAccuracy",
    "Moons",
    "register_datasets",
    "register_metrics",
]
__version__ = "0.1.0"

# The plugnet plugin API this plugin targets (plugnet.API_VERSION).
PLUGNET_API_VERSION = "1.0"


@hookimpl
def register_datasets(register: Register) -> None:
    register(Moons, name="moons", aliases=("two_moons",))


@hookimpl
def register_metrics(register: Register) -> None:
    register(BalancedAccuracy, name="balanced_accuracy")
