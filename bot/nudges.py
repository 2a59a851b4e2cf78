"""Rider duty nudges (流动吹哨人): well-timed reminders to look out for hazards on delivery rounds.

A subscription is keyed by channel + sender id (the rider's conversation) and holds the patrol area,
the chosen times and weekdays, and pause/unsubscribe; riders as people are the volunteers module's.
Changing a subscription only writes the database (the action server can do it mid-conversation);
the scheduler's sweep turns changed subscriptions into cron jobs, one per chosen time. A nudge checks
the subscription when it fires, so a paused or unsubscribed rider hears nothing even from a job that
was already due.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Iterable, Optional

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import JSON, Boolean, Column, Integer, String, select

from bot.db import Base, UtcDateTime, session_scope
from bot.errors import UserError
from bot.scheduler import Context, Policy, Recipient

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^\s*(\d{1,2})[:：点](\d{2})?\s*$")


class NudgeSubscription(Base):
    __tablename__ = "nudge_subscriptions"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    area = Column(String(64))  # a community; empty = the whole street
    times = Column(JSON, nullable=False)  # ["07:30", "17:30"], local
    weekdays = Column(JSON, nullable=False)  # [1..7], Monday = 1
    active = Column(Boolean, nullable=False, default=True)
    paused_until = Column(UtcDateTime)
    version = Column(Integer, nullable=False, default=1)  # bumped on every change
    planned_version = Column(Integer, nullable=False, default=0)  # the version whose jobs exist
    planned_times = Column(JSON, nullable=False, default=list)
    updated_at = Column(UtcDateTime, nullable=False)


class NudgeError(UserError):
    """A nudge request that makes no sense."""


@dataclass(frozen=True)
class NudgeView:
    channel: str
    sender_id: str
    area: Optional[str]
    times: tuple[str, ...]
    weekdays: tuple[int, ...]
    active: bool
    paused_until: Optional[datetime]

    @classmethod
    def of(cls, row: NudgeSubscription) -> "NudgeView":
        return cls(row.channel, row.sender_id, row.area, tuple(row.times), tuple(row.weekdays), row.active,
                   row.paused_until)

    def paused(self, now: datetime) -> bool:
        return bool(self.paused_until and self.paused_until > now)


def parse_times(values: Iterable[str], policy: Policy) -> list[str]:
    """"7:30", "07:30", "18点" → sorted "HH:MM"; times in the quiet hours or too many are refused."""
    times = set()
    for value in values:
        match = _TIME.match(str(value))
        hour, minute = (int(match.group(1)), int(match.group(2) or 0)) if match else (-1, -1)
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise NudgeError(f"bad time {value!r}", f"“{value}”不是一个时间，请写成“7:30”或“18:00”这样。")
        if policy.is_quiet_time(time(hour, minute)):
            raise NudgeError(f"quiet time {value!r}", f"{hour:02d}:{minute:02d}在休息时段"
                             f"（{policy.quiet_start:%H:%M}-{policy.quiet_end:%H:%M}），这时候不打扰您，请换个时间。")
        times.add(f"{hour:02d}:{minute:02d}")
    if not times:
        raise NudgeError("no times", "请至少选一个提醒时间，比如“17:30”。")
    if len(times) > policy.nudge_max_per_day:
        raise NudgeError("too many times", f"一天最多提醒{policy.nudge_max_per_day}次，请少选几个时间。")
    return sorted(times)


def parse_weekdays(values: Iterable[int | str]) -> list[int]:
    days = set()
    for value in values:
        day = WEEKDAYS.index(value) + 1 if value in WEEKDAYS else int(value) if str(value).isdigit() else 0
        if not 1 <= day <= 7:
            raise NudgeError(f"bad weekday {value!r}", "星期要写1到7（星期一到星期日）。")
        days.add(day)
    if not days:
        raise NudgeError("no weekdays", "请至少选一天。")
    return sorted(days)


def subscribe(engine, policy: Policy, channel: str, sender_id: str, now: datetime, area: str | None = None,
              times: Iterable[str] = ("17:30",), weekdays: Iterable[int | str] = range(1, 8)) -> NudgeView:
    """Creates or changes a rider's nudges (and resumes them); bad times change nothing."""
    times, weekdays = parse_times(times, policy), parse_weekdays(weekdays)
    with session_scope(engine) as session:
        row = session.get(NudgeSubscription, (channel, sender_id))
        if row is None:
            row = NudgeSubscription(channel=channel, sender_id=sender_id, version=0, planned_version=0,
                                    planned_times=[])
            session.add(row)
        row.area, row.times, row.weekdays, row.active, row.paused_until = area, times, weekdays, True, None
        row.version, row.updated_at = row.version + 1, now
        session.flush()
        return NudgeView.of(row)


def pause(engine, policy: Policy, channel: str, sender_id: str, now: datetime, days: int | None = None) -> NudgeView:
    days = policy.nudge_pause_days if days is None else days
    if not 1 <= days <= 90:
        raise NudgeError(f"bad pause {days}", "暂停天数要在1到90天之间。")
    return _change(engine, channel, sender_id, now, paused_until=now + timedelta(days=days))


def resume(engine, channel: str, sender_id: str, now: datetime) -> NudgeView:
    return _change(engine, channel, sender_id, now, paused_until=None, active=True)


def unsubscribe(engine, channel: str, sender_id: str, now: datetime) -> NudgeView:
    return _change(engine, channel, sender_id, now, active=False, paused_until=None)


def _change(engine, channel: str, sender_id: str, now: datetime, **values) -> NudgeView:
    with session_scope(engine) as session:
        row = session.get(NudgeSubscription, (channel, sender_id))
        if row is None:
            raise NudgeError(f"no subscription for {channel}:{sender_id}", "您还没有订阅巡查提醒。")
        for name, value in values.items():
            setattr(row, name, value)
        row.version, row.updated_at = row.version + 1, now
        session.flush()
        return NudgeView.of(row)


def get(engine, channel: str, sender_id: str) -> Optional[NudgeView]:
    with session_scope(engine) as session:
        row = session.get(NudgeSubscription, (channel, sender_id))
        return NudgeView.of(row) if row else None


def _job_id(channel: str, sender_id: str, at: str) -> str:
    return f"nudge:{channel}:{sender_id}:{at.replace(':', '')}"


def sweep(context: Context, batch: int = 500) -> int:
    """Turns changed subscriptions into jobs: one cron job per chosen time while active."""
    with session_scope(context.engine) as session:
        rows = session.execute(select(NudgeSubscription).where(
            NudgeSubscription.version != NudgeSubscription.planned_version).limit(batch)).scalars().all()
        for row in rows:
            wanted = set(row.times) if row.active else set()
            for at in set(row.planned_times) - wanted:
                context.schedule.remove(_job_id(row.channel, row.sender_id, at))
            for at in wanted:
                hour, minute = (int(x) for x in at.split(":"))
                days = ",".join(WEEKDAYS[d - 1] for d in row.weekdays)
                context.schedule.every(_job_id(row.channel, row.sender_id, at), "bot.nudges:nudge",
                                       CronTrigger(day_of_week=days, hour=hour, minute=minute,
                                                   timezone=context.policy.zone),
                                       channel=row.channel, sender_id=row.sender_id, at=at)
            row.planned_version, row.planned_times = row.version, sorted(wanted)
        return len(rows)


def nudge(context: Context, channel: str, sender_id: str, at: str) -> None:
    """A routine nudge at one of the rider's times, at most once per time and day."""
    subscription, now = get(context.engine, channel, sender_id), context.clock()
    if subscription is None or not subscription.active or at not in subscription.times or subscription.paused(now):
        return
    day = now.astimezone(context.policy.zone).date().isoformat()
    context.delivery.send(f"nudge:{channel}:{sender_id}:{day}T{at}", Recipient(channel, sender_id),
                          "EXTERNAL_patrol_nudge", {"nudge": "routine", "community": subscription.area})


def flood_alert(schedule, engine, now: datetime, community: str | None = None, run_at: datetime | None = None) -> int:
    """Staff ask riders in an area (or all) to check for flooding before heavy rain; each rider gets
    one job (quiet hours defer it to the morning). Returns how many riders will be nudged."""
    alert = now.strftime("%Y%m%dT%H%M%S")
    with session_scope(engine) as session:
        query = select(NudgeSubscription).where(NudgeSubscription.active.is_(True))
        riders = [NudgeView.of(row) for row in session.execute(query).scalars()]
    riders = [r for r in riders if not r.paused(now) and (community is None or r.area in (None, community))]
    for rider in riders:
        schedule.at(f"flood:{alert}:{rider.channel}:{rider.sender_id}", "bot.nudges:flood_nudge", run_at or now,
                    channel=rider.channel, sender_id=rider.sender_id, alert=alert, community=community)
    return len(riders)


def flood_nudge(context: Context, channel: str, sender_id: str, alert: str, community: str | None) -> None:
    subscription = get(context.engine, channel, sender_id)
    if subscription is None or not subscription.active or subscription.paused(context.clock()):
        return
    context.delivery.send(f"flood:{alert}:{channel}:{sender_id}", Recipient(channel, sender_id),
                          "EXTERNAL_patrol_nudge", {"nudge": "flood", "community": community or subscription.area})
