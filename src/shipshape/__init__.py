"""shipshape: a production-grade Python web service and the kit to ship it."""

import os
from importlib.metadata import PackageNotFoundError, version

try:
    _package_version = version("shipshape")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    _package_version = "0.0.0"
# The release version an image was built for (Dockerfile build arg VERSION -> SHIPSHAPE_VERSION),
# else the installed package's version.
__version__ = os.environ.get("SHIPSHAPE_VERSION") or _package_version
