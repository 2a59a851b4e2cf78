"""Broadcasts on the schedule: sending at the chosen time and telling the author the outcome."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.broadcasts.fanout import run
from bot.broadcasts.lifecycle import REPORT_INTENT, BroadcastView, get
from bot.broadcasts.models import Broadcast
from bot.config.broadcasts import get_config
from bot.core.db import session_scope
from bot.core.errors import RetryLater
from bot.messaging.recipients import Recipient
from bot.scheduling.registry import on_rebuild

# -- scheduling ------------------------------------------------------------------------------------

def job_id(broadcast_id: int, watch: bool = False) -> str:
    return f"broadcast:{broadcast_id}{':watch' if watch else ''}"


def schedule(scheduler, view: BroadcastView, now: datetime) -> None:
    """The scheduler process sends it at its time (quiet hours do not apply: staff chose the time)."""
    scheduler.at(job_id(view.id), drive, view.send_at or now, quiet=False, broadcast_id=view.id)


@on_rebuild("broadcasts")
def rebuild(context) -> int:
    """Broadcasts scheduled or under way get their job again (a lost job store): one that is
    sending is taken over by its watch, as when its sender stops beating."""
    with session_scope(context.engine) as session:
        ids = list(session.execute(select(Broadcast.id).where(Broadcast.status.in_(("scheduled", "sending"))))
                   .scalars())
    now = context.clock()
    for broadcast_id in ids:
        view = get(context.engine, broadcast_id)
        if view is not None:
            schedule(context.schedule, view, now)
    return len(ids)


def drive(context, broadcast_id: int) -> None:
    """The scheduler's job: sends a due broadcast, or keeps watch over one another process is
    sending and takes it over if that process stops beating."""
    config = get_config()
    view = get(context.engine, broadcast_id)
    if view is None or view.status not in ("scheduled", "sending"):
        return
    now = context.clock()
    if view.status == "scheduled" and view.send_at and view.send_at > now:
        schedule(context.schedule, view, now)  # its time was moved or the job ran early
        return
    context.schedule.at(job_id(broadcast_id, watch=True), drive, now + config.stale_after,
                        quiet=False, broadcast_id=broadcast_id)
    settings = context.schedule.settings
    result = run(context.engine, broadcast_id, settings.rasa_url, settings.api_token, context.clock, config=config)
    if not result.ran:
        return
    if result.view.status in ("done", "cancelled"):
        context.schedule.remove(job_id(broadcast_id, watch=True))
        tell_author(context.delivery, result.view)
    elif result.paused:
        raise RetryLater(f"broadcast {broadcast_id}: Rasa unreachable, {result.view.counts.get('pending', 0)} left")


def tell_author(delivery, view: BroadcastView) -> None:
    """The staff member who sent it from a chat hears how it went (once)."""
    if view.author_channel == "cli" or delivery is None:
        return
    delivery.send(f"broadcast:{view.id}:report", Recipient(view.author_channel, view.author_id), REPORT_INTENT,
                  {"broadcast_id": str(view.id)})
