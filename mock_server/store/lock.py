"""One process per state file: an exclusive lock on the file itself, and a note naming the
holder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path


class StateFileError(Exception):
    """The state file cannot be used; the message is one line that names it."""



class Holder:
    """An exclusive lock on the state file itself (its inode: another name for the same file,
    a symbolic or a hard link, meets the same lock), and `<file>.lock`, which names the holder.
    The kernel lets go of the lock when the process ends, however it ends."""

    def __init__(self, fd: int, info: Path) -> None:
        self.fd = fd
        self.info = info

    def release(self) -> None:
        # Only once SQLite's own connections are closed: closing a descriptor of the file
        # drops every POSIX lock the process holds on it.
        os.close(self.fd)


def take_lock(path: Path) -> Holder:
    real = path.resolve()
    info = real.with_name(real.name + ".lock")
    try:
        fd = os.open(real, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateFileError(f"state file {path} cannot be opened: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        try:
            holder = info.read_text(encoding="utf-8", errors="replace")[:200].strip()
        except OSError:
            holder = ""
        raise StateFileError(
            f"state file {path} is in use by {holder or 'another process'}"
        ) from None
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    # The lock holds without it; only the message of a second process would be poorer.
    with contextlib.suppress(OSError):
        info.write_text(
            f"exomock pid {os.getpid()} on {socket.gethostname()} since {stamp}\n",
            encoding="utf-8",
        )
    return Holder(fd, info)
