"""Triggers for Linli's recurring jobs."""
from __future__ import annotations

from datetime import datetime
from math import floor
from typing import Optional

from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import timedelta_seconds


class CatchUpInterval(IntervalTrigger):
    """An interval that, after a long gap, goes straight to the latest missed fire time instead of
    stepping through every one.

    APScheduler 3 lists each missed run of a job before coalescing them into one: a 1-second sweep
    whose scheduler was away for a day (or whose clock a test moved a season ahead) costs its loop
    86,400 trigger calls per day of gap, and no job runs meanwhile. The jobs coalesce anyway, so only
    the latest missed run matters: that one runs at once."""

    def get_next_fire_time(self, previous_fire_time: Optional[datetime], now: datetime) -> Optional[datetime]:
        if previous_fire_time is not None and previous_fire_time + 2 * self.interval < now:
            elapsed = floor(timedelta_seconds(now - self.start_date) / self.interval_length)
            return super().get_next_fire_time(self.start_date + self.interval * (elapsed - 1), now)
        return super().get_next_fire_time(previous_fire_time, now)
