"""Time, from one injectable clock that tests and the control plane can move forward."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

# The provider is in India; its timestamps without an offset are Indian Standard Time.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
# The mock's clock stops here: 2200-01-01T00:00:00Z. With durations of at most 36,500 days, every
# deallocation time then lies before the year 2300, far inside what dates can hold.
LATEST = 7258118400.0


class ClockLimit(ValueError):
    """The clock would pass `LATEST`."""


class Clock:
    """Wall-clock time plus an offset. The offset is changed only by a committed unit of work
    (`Backend.advance_clock`, a full reset), after `checked_offset` said the move may be made."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        """Seconds since the Unix epoch, as the mock sees them."""
        return time.time() + self._offset

    def checked_offset(self, seconds: float) -> float:
        """The offset after advancing by `seconds`; ValueError when that is backwards or past
        `LATEST`. Changes nothing (the unit of work that advances the clock sets it)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        if self.now() + seconds > LATEST:
            raise ClockLimit(
                f"the clock cannot pass 2200-01-01T00:00:00Z (at most "
                f"{max(0, int(LATEST - self.now()))} more seconds)"
            )
        return self._offset + seconds

    def set_offset(self, offset: float) -> None:
        self._offset = offset


class FrozenClock(Clock):
    """A clock that moves only when told to: for tests that need exact times."""

    def __init__(self, start: float) -> None:
        super().__init__()
        self._start = start

    def now(self) -> float:
        return self._start + self._offset


def ist_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, IST)


def format_local(epoch: float) -> str:
    """`YYYY-MM-DD HH:MM:SS` in IST, the form of `deallocation_time`."""
    return _format_second(int(epoch))


@lru_cache(maxsize=4096)
def _format_second(second: int) -> str:
    # Allocations made within a second with one policy share their deallocation second.
    return ist_datetime(second).strftime("%Y-%m-%d %H:%M:%S")


def format_iso(epoch: float) -> str:
    """ISO 8601 with the IST offset and no fraction, as in `2021-11-09T10:09:15+05:30`."""
    return ist_datetime(int(epoch)).isoformat()


def format_iso_utc(epoch: float) -> str:
    """ISO 8601 in UTC and no fraction, as in `2020-03-23T12:58:02+00:00` (the documents'
    `call_completed` callback)."""
    return datetime.fromtimestamp(int(epoch), UTC).isoformat()


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_created(epoch: float) -> str:
    """`Thu, 10 Nov 2022 12:18:36` in IST, the form of the Connect applet's `Created`, in
    English whatever the process's locale."""
    d = ist_datetime(epoch)
    return f"{_DAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]} {d.year} {d:%H:%M:%S}"


def parse_local(text: str) -> float:
    """Reads `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` as IST; raises ValueError otherwise."""
    fmt = "%Y-%m-%d %H:%M:%S" if " " in text else "%Y-%m-%d"
    return datetime.strptime(text, fmt).replace(tzinfo=IST).timestamp()
