"""pytest plugin: the conformance suite as one test per component per check.

plugnet registers this module under the ``pytest11`` entry point, so it is active wherever
plugnet is installed (``-p no:plugnet`` turns it off; with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``
set, add ``pytest_plugins = ["plugnet.testing.pytest_plugin"]`` to a conftest.py). It does
nothing until a test asks for the ``conformance_check`` fixture::

    import pytest

    @pytest.mark.plugnet_conformance("plugnet-mish")
    def test_conformance(conformance_check):
        conformance_check()

That test becomes one test per registered component of the distribution ``plugnet-mish`` per
check, with ids such as ``test_conformance[activation:mish-gradient]``. The marker takes
distribution names or component names, and ``kind=`` to keep one kind. Without the marker the
``plugnet_conformance`` ini option (a list of names) is used.
"""

from __future__ import annotations

from typing import Any

import pytest

FIXTURE = "conformance_check"
MARKER = "plugnet_conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        MARKER,
        type="linelist",
        default=[],
        help="distributions or component names whose components the conformance_check "
        "fixture runs the plugnet conformance suite on",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*names, kind=None): run the plugnet conformance suite, as one test per "
        f"component per check, on the components of these distributions (or these component "
        f"names); the test takes the {FIXTURE} fixture and calls it",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    from plugnet.testing.conformance import checks_for, select_components

    marker = metafunc.definition.get_closest_marker(MARKER)
    names: tuple[Any, ...] = marker.args if marker is not None else ()
    kind = marker.kwargs.get("kind") if marker is not None else None
    if not names:
        names = tuple(metafunc.config.getini(MARKER))
    if not names:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid} takes the {FIXTURE} fixture but names no components: "
            f'mark it @pytest.mark.{MARKER}("your-distribution") or set {MARKER} in the pytest '
            f"configuration"
        )
    try:
        checks = checks_for(select_components([str(n) for n in names], kind=kind))
    except (LookupError, ValueError) as exc:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None
    metafunc.parametrize(FIXTURE, checks, ids=[check.id for check in checks])
