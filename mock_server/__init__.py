"""A stateful mock of Exotel's ExoBridge (GreenPin, GreenVN) and calling APIs."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exobridge-mock")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
