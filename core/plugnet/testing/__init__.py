"""Tools that check components against their protocols, for plugnet and for plugin authors.

Gradients are checked in float64 against central finite differences.
"""

from plugnet.testing.gradients import (
    ConformanceError,
    assert_close,
    check_activation_gradient,
    check_error_gradient,
    check_fused_against_chain,
    check_layer_gradients,
    numerical_gradient,
)

__all__ = [
    "ConformanceError",
    "assert_close",
    "check_activation_gradient",
    "check_error_gradient",
    "check_fused_against_chain",
    "check_layer_gradients",
    "numerical_gradient",
]
