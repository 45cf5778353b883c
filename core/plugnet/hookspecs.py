"""The plugin contract: one hook per component kind.

A plugin is a module with functions marked ``@plugnet.hookimpl``, named after these hooks.
Each hook receives ``register(factory, name=None, aliases=())``: call it once per component.
``factory(**kwargs)`` must return an object that satisfies the kind's protocol in
:mod:`plugnet.protocols`. Without ``name`` the canonical name is the factory's ``name``
attribute, or its ``__name__`` in snake case.

A plugin may declare the contract version it targets with a module-level constant (on the object
its entry point names, when that is not a module)::

    PLUGNET_API_VERSION = "1.0"

It is read when the plugin is added, before any hook is registered. ``plugnet.API_VERSION`` is
the version this plugnet implements. A declaration that is not a ``"MAJOR.MINOR"`` string, or
that names another major version, makes the plugin a failed plugin, reported with both versions;
any minor of the same major is accepted. A plugin that declares nothing is loaded as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import pluggy

PROJECT_NAME = "plugnet"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callback each hook receives: ``register(factory, name=None, aliases=())``.

    ``name`` is the canonical name (lower snake case), or for a fused backward the pair
    ``(activation_name, error_name)``; ``aliases`` are further names that reach the component.
    """

    def __call__(
        self,
        factory: Callable[..., Any],
        name: str | tuple[str, str] | None = None,
        aliases: Iterable[str] = (),
    ) -> None: ...


@hookspec
def register_activations(register: Register) -> None:
    """Register activation functions (protocol ``Activation``)."""


@hookspec
def register_error_functions(register: Register) -> None:
    """Register error (loss) functions (protocol ``ErrorFunction``)."""


@hookspec
def register_layers(register: Register) -> None:
    """Register layers (protocol ``Layer``)."""


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizers (protocol ``Optimizer``)."""


@hookspec
def register_initializers(register: Register) -> None:
    """Register parameter initializers (protocol ``Initializer``)."""


@hookspec
def register_schedules(register: Register) -> None:
    """Register learning-rate schedules (protocol ``Schedule``)."""


@hookspec
def register_fused_backwards(register: Register) -> None:
    """Register fused output backwards (protocol ``FusedBackward``).

    ``name`` is the pair ``(activation_name, error_name)``, for example
    ``register(SoftmaxCrossEntropy, name=("softmax", "cross_entropy"))``.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics (protocol ``Metric``): scores that accumulate over an epoch."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register data sets by name (protocol ``DataSource``): factories whose arguments are the
    set's options, e.g. ``register(Spiral)`` for ``"spiral(n=300, classes=3)"``."""


@hookspec
def register_callbacks(register: Register) -> None:
    """Register training callbacks by name (protocol ``Callback``): factories whose arguments
    are the callback's options, e.g. ``register(EarlyStopping, name="early_stopping")`` for
    ``"early_stopping(patience=5)"``."""


@hookspec
def register_onnx_lowerings(register: Register) -> None:
    """Register ONNX lowerings (protocol ``OnnxLowering``): ``register(lower, "provider:name")``
    says how the component with that qualified name (a layer or an activation; a bare name is
    the registering provider's own) becomes ONNX nodes. Any distribution may lower any
    component; the component's own provider's lowering is used first."""
