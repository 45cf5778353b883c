"""The plugin authors' kit: checks any component against its protocol.

One function per kind runs the whole conformance suite on a component (a name, a spec or an
instance) and raises :class:`ConformanceError`, an ``AssertionError``, naming the component, the
failed check and the numbers: ``check_activation``, ``check_error_function``, ``check_layer``,
``check_optimizer``, ``check_initializer``, ``check_schedule``, ``check_metric``,
``check_dataset``, ``check_callback``, ``check_fused_backward`` and ``check_provider`` (every
component a distribution registers).
Gradients are checked in float64 against central finite differences. The lower-level helpers
(``numerical_gradient``, ``check_vjp``, ``assert_close``, ...) are public too. The pytest plugin
(:mod:`plugnet.testing.pytest_plugin`) turns the suite into one test per component per check.
The checks themselves live in ``plugnet.testing.checks``, one module per kind.
"""

from plugnet.testing.conformance import (
    ConformanceCheck,
    check_activation,
    check_callback,
    check_dataset,
    check_error_function,
    check_fused_backward,
    check_initializer,
    check_layer,
    check_metric,
    check_model_layers,
    check_optimizer,
    check_provider,
    check_schedule,
    checks_for,
    select_components,
)
from plugnet.testing.gradients import (
    ConformanceError,
    assert_close,
    check_activation_gradient,
    check_error_gradient,
    check_fused_against_chain,
    check_layer_gradients,
    check_model_gradients,
    check_vjp,
    numerical_gradient,
)

__all__ = [
    "ConformanceCheck",
    "ConformanceError",
    "assert_close",
    "check_activation",
    "check_activation_gradient",
    "check_callback",
    "check_dataset",
    "check_error_function",
    "check_error_gradient",
    "check_fused_against_chain",
    "check_fused_backward",
    "check_initializer",
    "check_layer",
    "check_layer_gradients",
    "check_metric",
    "check_model_gradients",
    "check_model_layers",
    "check_optimizer",
    "check_provider",
    "check_schedule",
    "check_vjp",
    "checks_for",
    "numerical_gradient",
    "select_components",
]
