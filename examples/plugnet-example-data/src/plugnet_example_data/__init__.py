"""plugnet-example-data: a third-party plugnet plugin that adds a data set by name.

plugnet finds this module through the entry point in pyproject.toml::

    [project.entry-points.plugnet]
    example_data = "plugnet_example_data"

and calls ``register_datasets`` below. Once the package is installed, a training config says
``[data] source = "moons"`` (or ``"moons(n=200, noise=0.2)"``, or
``"plugnet-example-data:moons"``), and ``plugnet evaluate MODEL --data moons`` scores its test
split.
"""

from __future__ import annotations

from plugnet.hookspecs import Register, hookimpl  # hookimpl is also plugnet.hookimpl
from plugnet_example_data.datasets import Moons

__all__ = ["PLUGNET_API_VERSION", "Moons", "register_datasets"]
__version__ = "0.1.0"

# The plugnet plugin API this plugin targets (plugnet.API_VERSION).
PLUGNET_API_VERSION = "1.0"


@hookimpl
def register_datasets(register: Register) -> None:
    register(Moons, name="moons", aliases=("two_moons",))
