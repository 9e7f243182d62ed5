"""Keeping the cycle collector's pauses short when the mock holds many allocations.

CPython's full collections walk every tracked object; with a million allocations that is half a
second or more during which no request is answered. The mock's long-lived state holds no garbage
cycles (an allocation and its parties are one object, with no references back), so after
each full collection its survivors are frozen: later collections walk only what is newer.
"""

from __future__ import annotations

import gc
from typing import Any

_installed = False


def _freeze_after_full_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def install() -> None:
    """Freezes what start-up made (the spec, compiled schemas, number metadata), then the
    survivors of every full collection from now on (once per process)."""
    global _installed
    if not _installed:
        gc.collect()
        gc.freeze()
        gc.callbacks.append(_freeze_after_full_collection)
        _installed = True


def collect_everything() -> None:
    """A full collection that also reaches frozen objects: after a reset drops the state."""
    if not _installed:
        return
    gc.unfreeze()
    gc.collect()
    gc.freeze()
