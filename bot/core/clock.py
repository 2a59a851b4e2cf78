"""Time: the wall clock in UTC, a manual clock for tests and benchmarks, and stored moments read as UTC."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional, overload

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
@overload
def aware(moment: Optional[datetime]) -> Optional[datetime]: ...


def aware(moment: Optional[datetime]) -> Optional[datetime]:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment and moment.tzinfo is None else moment


class ManualClock:
    """A clock that moves only when told to: tests and the benchmark jump hours without sleeping."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment
