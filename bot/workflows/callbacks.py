"""Call-backs (转人工) as jobs: the community's staff are told at once (with a 已回电 button), a
call-back still open at its promised time is escalated to the street like an overdue ticket, and
the resident hears when it is done.

Whoever records a step (the action server, the CLI, a staff chat command) plans its jobs at once
with :func:`plan_now`; the sweep plans whatever a crash left unplanned. Jobs check the request
before acting and every message goes out under a fixed delivery key, so planning twice sends once.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot.callbacks import store as callbacks
from bot.callbacks.models import CallbackRequest
from bot.callbacks.store import CallbackView
from bot.core.db import session_scope
from bot.messaging.recipients import Recipient
from bot.messaging.send import notify_staff
from bot.scheduling.registry import sweep_step
from bot.scheduling.scheduler import Context

DONE_INTENT = "EXTERNAL_callback_done"


@sweep_step("callbacks")
def sweep(context: Context, batch: int = 500) -> int:
    """Plans requests and completions nobody planned (the writer crashed before it could)."""
    query = select(CallbackRequest.id).where(
        ((CallbackRequest.status == "open") & CallbackRequest.planned_at.is_(None))
        | ((CallbackRequest.status == "done") & CallbackRequest.done_planned_at.is_(None))).limit(batch)
    with session_scope(context.engine) as session:
        ids = list(session.execute(query).scalars())
    for callback_id in ids:
        plan(context, callbacks.get(context.tickets, callback_id))
    return len(ids)


def plan(context: Context, callback: CallbackView | None) -> None:
    """The jobs the request's state calls for; the mark goes in after them (a crash between means
    the sweep plans them again, which sends nothing twice)."""
    if callback is None:
        return
    args: dict[str, Any] = {"callback_id": callback.id}
    now = context.clock()
    if callback.status == "open":
        context.schedule.at(f"callback:{callback.id}:notice", notify, now, **args)
        context.schedule.at(f"callback:{callback.id}:overdue", overdue, callback.expected_by, **args)
        column = "planned_at"
    else:
        context.schedule.remove(f"callback:{callback.id}:overdue")
        context.schedule.at(f"callback:{callback.id}:done", tell_resident, now, **args)
        column = "done_planned_at"
    with session_scope(context.engine) as session:
        session.execute(update(CallbackRequest).where(CallbackRequest.id == callback.id).values({column: now}))


def plan_now(tickets, callback: CallbackView) -> None:
    """For a process that runs no jobs (the action server, the CLI): writes the jobs into the
    shared job store, where the running scheduler picks them up within seconds."""
    from bot.scheduling.scheduler import Scheduler

    scheduler = Scheduler(engine=tickets.engine).open()
    try:
        plan(scheduler.planning_context(tickets), callback)
    finally:
        scheduler.stop(release=False)


def _open(context: Context, callback_id: int) -> CallbackView | None:
    callback = callbacks.get(context.tickets, callback_id)
    return callback if callback and callback.status == "open" else None


def notify(context: Context, callback_id: int) -> None:
    """The community's staff (the street's when the community has none listed) get the request."""
    callback = _open(context, callback_id)
    if callback is None:
        return
    if callbacks.claim(context.tickets, callback_id, "notified_at"):
        callbacks.record(context.tickets, callback_id, "linli", "notified",
                         f"已通知{callback.community or context.tickets.directory.street}工作人员")
    notify_staff(context, f"callback:{callback_id}:notice", context.recipients.community_staff(callback.community),
                 "callback", callback_id=str(callback_id))


def overdue(context: Context, callback_id: int) -> None:
    """Past the promised time and nobody called: the street supervises, as for an overdue ticket."""
    callback = _open(context, callback_id)
    if callback is None:
        return
    street = context.tickets.directory.street
    if callbacks.claim(context.tickets, callback_id, "escalated_at"):
        callbacks.record(context.tickets, callback_id, "linli", "escalated", f"超过约定时间未回电，已请{street}督办")
    told = tuple(dict.fromkeys(context.recipients.street + context.recipients.community_staff(callback.community)))
    notify_staff(context, f"callback:{callback_id}:overdue", told, "callback_overdue", callback_id=str(callback_id))


def tell_resident(context: Context, callback_id: int) -> None:
    callback = callbacks.get(context.tickets, callback_id)
    if callback is None or callback.status != "done":
        return
    sent = context.delivery.send(f"callback:{callback_id}:done", Recipient(callback.channel, callback.sender_id),
                                 DONE_INTENT, {"callback_id": str(callback_id)})
    if sent is not None:
        callbacks.record(context.tickets, callback_id, "linli", "told", "已告诉居民回电已完成")
