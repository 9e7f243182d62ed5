"""The store interfaces, defined beside the domain that uses them (`domain/ports.py`)."""

from __future__ import annotations

from ..domain.ports import CallStore, StateStore, Store

__all__ = ["CallStore", "StateStore", "Store"]
