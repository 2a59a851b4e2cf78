"""Rider duty nudge subscriptions: times, weekdays, pauses."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Iterable, Optional

from sqlalchemy import JSON, Boolean, Column, Integer, String

from bot.config.directory import Directory, get_directory
from bot.config.policy import Policy
from bot.core.db import Base, UtcDateTime, session_scope
from bot.core.errors import UserError

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


def area_of(directory: Directory, text: Optional[str]) -> Optional[str]:
    """A patrol area as the directory names it: "望园" and "望园小区" are 望园社区; nothing is the
    whole street. Raises :class:`NudgeError` for a community the street does not have."""
    text = (text or "").strip()
    if not text:
        return None
    found = directory.find_community(text)
    if found is None:
        names = "、".join(c.name for c in directory.communities)
        raise NudgeError(f"unknown community {text!r}", f"街道没有“{text[:20]}”这个社区，可以写：{names}。")
    return found.name


def subscribe(engine, policy: Policy, channel: str, sender_id: str, now: datetime, area: str | None = None,
              times: Iterable[str] = ("17:30",), weekdays: Iterable[int | str] = range(1, 8)) -> NudgeView:
    """Creates or changes a rider's nudges (and resumes them); bad times or areas change nothing."""
    times, weekdays = parse_times(times, policy), parse_weekdays(weekdays)
    area = area_of(get_directory(), area)
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
