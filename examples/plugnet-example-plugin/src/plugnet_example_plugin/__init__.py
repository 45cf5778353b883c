"""plugnet-example-plugin: a minimal third-party plugnet plugin.

plugnet finds this module through the entry point in pyproject.toml::

    [project.entry-points.plugnet]
    example = "plugnet_example_plugin"

and calls the hook implementations below, which register the components by name. Once the
package is installed, ``plugnet.activation("square_plus")`` (or ``"sqplus"``, or
``"plugnet-example-plugin:square_plus(b=1.0)"``) and ``plugnet.error_function("log_cosh")``
just work.
"""

from __future__ import annotations

from plugnet.hookspecs import Register, hookimpl  # hookimpl is also plugnet.hookimpl
from plugnet_example_plugin.components import LogCosh, SquarePlus, lower_square_plus

__all__ = [
    "PLUGNET_API_VERSION",
    "LogCosh",
    "SquarePlus",
    "register_activations",
    "register_error_functions",
    "register_onnx_lowerings",
]
__version__ = "0.1.0"

# The plugnet plugin API this plugin targets (plugnet.API_VERSION); plugnet reports the plugin as
# failed, naming both versions, if it implements another major version.
PLUGNET_API_VERSION = "1.0"


@hookimpl
def register_activations(register: Register) -> None:
    register(SquarePlus, name="square_plus", aliases=("sqplus",))


@hookimpl
def register_error_functions(register: Register) -> None:
    register(LogCosh, name="log_cosh", aliases=("logcosh_loss",))


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    # "square_plus" is this distribution's own: plugnet-example-plugin:square_plus.
    register(lower_square_plus, "square_plus")
