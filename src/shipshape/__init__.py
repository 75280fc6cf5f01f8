"""shipshape: a production-grade Python web service and the kit to ship it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shipshape")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
