"""Which machine and which code the figures were measured on."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .common import ROOT


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def command_version(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not available"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def code_version() -> str:
    """The commit measured, and whether the mock's files differ from it."""
    commit = command_version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    changed = command_version(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "mock_server", "openapi"]
    )
    dirty = changed not in ("", "unknown", "not available")
    return f"{commit}{' + uncommitted changes in mock_server/ or openapi/' if dirty else ''}"


def machine_info() -> dict[str, str]:
    return {
        "mock code": code_version(),
        "CPU": cpu_model(),
        "cores": str(os.cpu_count()),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "kernel": platform.release(),
        "wrk": command_version(["wrk", "--version"]).split(" [")[0],
        "uvicorn / uvloop / httptools / starlette": " / ".join(
            package_version(p) for p in ("uvicorn", "uvloop", "httptools", "starlette")
        ),
    }
