"""Rider duty nudges as jobs: one per subscription and time, and the nudges to an area (flood season,
proactive cases)."""
from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update

from bot.config.directory import get_directory
from bot.core.db import session_scope
from bot.messaging.recipients import Recipient
from bot.scheduling.registry import on_rebuild, sweep_step
from bot.scheduling.scheduler import Context
from bot.volunteers.nudges import WEEKDAYS, NudgeSubscription, NudgeView, get


def _job_id(channel: str, sender_id: str, at: str) -> str:
    return f"nudge:{channel}:{sender_id}:{at.replace(':', '')}"


@sweep_step("nudges")
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
                context.schedule.every(_job_id(row.channel, row.sender_id, at), nudge,
                                       CronTrigger(day_of_week=days, hour=hour, minute=minute,
                                                   timezone=context.policy.zone),
                                       channel=row.channel, sender_id=row.sender_id, at=at)
            row.planned_version, row.planned_times = row.version, sorted(wanted)
        return len(rows)


@on_rebuild("nudges")
def rebuild(context: Context) -> int:
    """Every subscription is planned again by the sweep (its cron jobs were lost with the store)."""
    with session_scope(context.engine) as session:
        return session.execute(update(NudgeSubscription).values(
            planned_version=NudgeSubscription.version - 1)).rowcount


def nudge(context: Context, channel: str, sender_id: str, at: str) -> None:
    """A routine nudge at one of the rider's times, at most once per time and day."""
    subscription, now = get(context.engine, channel, sender_id), context.clock()
    if subscription is None or not subscription.active or at not in subscription.times or subscription.paused(now):
        return
    day = now.astimezone(context.policy.zone).date().isoformat()
    context.delivery.send(f"nudge:{channel}:{sender_id}:{day}T{at}", Recipient(channel, sender_id),
                          "EXTERNAL_patrol_nudge", {"nudge": "routine", "community": subscription.area})


def area_alert(schedule, engine, now: datetime, community: str | None = None, run_at: datetime | None = None, *,
               nudge: str = "flood", note: str | None = None, alert: str | None = None) -> int:
    """Staff ask the riders of an area (or all) to look out: for flooding before heavy rain, or for
    what a proactive case names ("5号楼屋顶排水"). ``community`` is the directory's name; riders
    subscribed under an alias count too. Each rider gets one job per ``alert`` (quiet hours defer it
    to the morning). Returns how many riders will be nudged."""
    alert = alert or now.strftime("%Y%m%dT%H%M%S")
    directory = get_directory()
    with session_scope(engine) as session:
        query = select(NudgeSubscription).where(NudgeSubscription.active.is_(True))
        riders = [NudgeView.of(row) for row in session.execute(query).scalars()]
    riders = [r for r in riders if not r.paused(now) and (community is None or r.area is None
                                                          or _area(directory, r.area) == community)]
    for rider in riders:
        schedule.at(f"{nudge}:{alert}:{rider.channel}:{rider.sender_id}", flood_nudge, run_at or now,
                    channel=rider.channel, sender_id=rider.sender_id, alert=alert, community=community,
                    nudge=nudge, note=note)
    return len(riders)


def _area(directory, area: str) -> str:
    found = directory.find_community(area)
    return found.name if found else area


def flood_nudge(context: Context, channel: str, sender_id: str, alert: str, community: str | None,
                nudge: str = "flood", note: str | None = None) -> None:
    """One rider's nudge of an :func:`area_alert` (the name is kept for jobs already stored)."""
    subscription = get(context.engine, channel, sender_id)
    if subscription is None or not subscription.active or subscription.paused(context.clock()):
        return
    context.delivery.send(f"{nudge}:{alert}:{channel}:{sender_id}", Recipient(channel, sender_id),
                          "EXTERNAL_patrol_nudge", {"nudge": nudge, "community": community or subscription.area,
                                                    "nudge_note": note})
