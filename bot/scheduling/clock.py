"""Making APScheduler run on Linli's clock, so tests and benchmarks can move time."""
from __future__ import annotations

from datetime import datetime

from bot.core.clock import Clock, utcnow

_clock: Clock = utcnow


class _ClockedDatetime(datetime):
    """APScheduler 3 reads the wall clock through ``datetime.now`` in its loop, when adding a job, in
    the misfire check and for an interval trigger's default start; this class answers with Linli's
    clock there (an interval started on the wall clock would never fire on a clock set in the past)."""

    @classmethod
    def now(cls, tz=None):
        now = _clock()
        return now.astimezone(tz) if tz else now.replace(tzinfo=None)


def use_clock(clock: Clock) -> None:
    """Makes APScheduler in this process run on ``clock`` (one clock per process)."""
    global _clock
    import apscheduler.executors.base
    import apscheduler.executors.base_py3
    import apscheduler.schedulers.base
    import apscheduler.triggers.interval

    _clock = clock
    for module in (apscheduler.schedulers.base, apscheduler.executors.base, apscheduler.executors.base_py3,
                   apscheduler.triggers.interval):
        module.datetime = _ClockedDatetime
