"""plugnet's release version and the version of the plugin contract it implements."""

from __future__ import annotations

import re

__version__ = "0.1.0"

#: The plugin contract's version, ``"MAJOR.MINOR"``: a new minor only adds to the contract, a new
#: major changes or removes something a plugin may rely on.
API_VERSION = "1.0"

#: The module-level constant a plugin sets to the contract version it targets.
API_VERSION_ATTRIBUTE = "PLUGNET_API_VERSION"

# ASCII digits only, and few of them: a declaration is read from third-party code. Compiled on
# first use (re caches it), as few plugins declare a version and every process imports this.
_DECLARATION = r"([0-9]{1,6})\.([0-9]{1,6})"


def api_version_problem(declared: object) -> str | None:
    """Why a plugin declaring ``declared`` cannot be loaded, or None when it can.

    A declaration must be a ``"MAJOR.MINOR"`` string with the same major as :data:`API_VERSION`;
    any minor is accepted.
    """
    from plugnet.specs import preview

    match = re.fullmatch(_DECLARATION, declared) if isinstance(declared, str) else None
    if match is None:
        return (
            f"{API_VERSION_ATTRIBUTE} = {preview(declared)} is not a version: declare the plugnet "
            f'plugin API version the plugin targets as a "MAJOR.MINOR" string, e.g. '
            f'{API_VERSION_ATTRIBUTE} = "{API_VERSION}"'
        )
    ours = API_VERSION.split(".", 1)[0]
    if int(match.group(1)) != int(ours):
        return (
            f"it targets plugnet plugin API {declared}, but plugnet {__version__} implements "
            f"plugin API {API_VERSION}; install a release of the plugin built for API {ours}.x, "
            f"or a plugnet that implements API {match.group(1)}.x"
        )
    return None
