"""A stateful mock of Exotel's ExoBridge (GreenPin, GreenVN) and calling APIs.

The public API: `create_app` (the ASGI app), `MockServer` (a served mock for tests),
`Settings` (the configuration), `fake`, `fake_many` and `call_sequence` (fake callbacks),
`check_handler` (checks a webhook handler), `Code` and `ExoBridgeError` (the documented errors).
Everything else may change between versions.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("exobridge-mock")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0.0.0"

# Where each public name lives; imported on first use, so that `import mock_server` stays cheap.
_PUBLIC = {
    "create_app": ".app",
    "MockServer": ".testing",
    "Settings": ".settings",
    "fake": ".fakes",
    "fake_many": ".fakes",
    "call_sequence": ".fakes",
    "check_handler": ".handler_check",
    "Code": ".errors",
    "ExoBridgeError": ".errors",
}

__all__ = [
    "Code",
    "ExoBridgeError",
    "MockServer",
    "Settings",
    "__version__",
    "call_sequence",
    "check_handler",
    "create_app",
    "fake",
    "fake_many",
]

if TYPE_CHECKING:
    from .app import create_app
    from .errors import Code, ExoBridgeError
    from .fakes import call_sequence, fake, fake_many
    from .handler_check import check_handler
    from .settings import Settings
    from .testing import MockServer


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
