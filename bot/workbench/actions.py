"""Every change the workbench makes, each through the function the chat commands and the CLI use,
each checked against the subject's scope first and written to the audit log (refusals too)."""
from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

from bot.broadcasts import audience, compose, fanout, jobs, lifecycle
from bot.config import broadcasts
from bot.core.db import session_scope
from bot.core.errors import PlainUserError, UserError
from bot.core.settings import get_settings
from bot.staff import tickets
from bot.tickets.status import TRANSITIONS, TicketStatus
from bot.tickets.store import TicketStore
from bot.tickets.views import TicketView
from bot.volunteers import records
from bot.workbench.auth import Subject, audit
from bot.workbench.config import get_config
from bot.workbench.models import TicketAttachment

#: The ticket page's actions, in the order of its buttons; each is a ``bot.staff.act`` action.
TICKET_ACTIONS = ("start", "assign", "note", "resolve", "reopen", "merge")
#: The status an action moves a ticket to (the others change none).
MOVES_TO = {"start": TicketStatus.IN_PROGRESS, "resolve": TicketStatus.RESOLVED, "reopen": TicketStatus.REOPENED}
#: Being built elsewhere: the ticket page keeps a place for each.
COMING = ("accept", "extension", "callback")
PHOTO_MAX_BYTES = 5 * 1024 * 1024


class Refused(PlainUserError):
    """The subject may not do this here (scope); nothing changed."""


def allowed(ticket: TicketView, labels: dict) -> dict:
    """action -> None when the button works, else the reason it is greyed out (TRANSITIONS, merges)."""
    config = get_config()
    words = config.disabled
    status = labels["statuses"].get(ticket.status, ticket.status)
    found: dict = {}
    for action in TICKET_ACTIONS:
        if ticket.merged_into:
            found[action] = words["merged"].format(target=ticket.merged_into)
        elif action in MOVES_TO and MOVES_TO[action] not in TRANSITIONS[TicketStatus(ticket.status)]:
            found[action] = words["transition"].format(status=status, action=labels["actions"][action])
        elif action == "merge" and ticket.status == TicketStatus.CLOSED.value:
            found[action] = words["merge_closed"]
        else:
            found[action] = None
    return found


def _ticket_for(store: TicketStore, subject: Subject, ticket_id: str) -> TicketView:
    ticket = store.get(ticket_id)
    if ticket is None:
        raise Refused(f"没有找到工单 {str(ticket_id)[:20]}，请核对一下工单号。")
    if not subject.sees(ticket.community, ticket.handler_name):
        raise Refused(get_config().messages["forbidden"])
    return ticket


@dataclass(frozen=True)
class Acted:
    ticket: TicketView
    followup: Optional[object]  # the follow-up the ticket now awaits (bot.followups.FollowUpView)


def act_on_ticket(store: TicketStore, subject: Subject, action: str, ticket_id: str, now: datetime, ip: str,
                  text: Optional[str] = None, handler_kind: Optional[str] = None,
                  photo: Optional[tuple[bytes, str]] = None) -> Acted:
    """``bot.staff.act`` then ``bot.staff.plan``, exactly as `linli tickets` does; refusals raise
    :class:`UserError` (``user_message`` for the page) after being audited."""
    engine = store.engine
    try:
        if action not in TICKET_ACTIONS:
            raise Refused("这个操作不存在。")
        ticket = _ticket_for(store, subject, ticket_id)
        if action == "merge":
            text = _ticket_for(store, subject, (text or "").strip()).id
        stored = _check_photo(photo) if photo else None
        changed = tickets.act(store, action, ticket.id, subject.actor, (text or "").strip() or None, handler_kind)
        if stored:
            attach_photo(engine, changed.id if action != "merge" else ticket.id, stored, action, subject.actor, now)
        followup = tickets.plan(store, changed)
    except UserError as error:
        audit(engine, subject, f"ticket_{action}"[:32], now, ticket_id=str(ticket_id)[:16], outcome="refused",
              detail=error.user_message, ip=ip)
        raise
    audit(engine, subject, f"ticket_{action}", now, ticket_id=ticket.id, detail=(text or None), ip=ip,
          target=changed.id if action == "merge" else None)
    return Acted(changed, followup)


def _check_photo(photo: tuple[bytes, str]) -> tuple[bytes, str]:
    """A JPG or PNG under 5 MB, read by content (Pillow), never by its name."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    data, _name = photo
    refused = Refused(get_config().messages["upload_refused"])
    if not data or len(data) > PHOTO_MAX_BYTES:
        raise refused
    try:
        with Image.open(BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise refused from None
    if kind not in ("JPEG", "PNG"):
        raise refused
    return data, kind


def photo_folder() -> Path:
    return get_settings().var_dir / "workbench" / "photos"


def attach_photo(engine, ticket_id: str, photo: tuple[bytes, str], action: str, actor: str, now: datetime) -> str:
    """Stores an uploaded photo under the var folder, named by content, and lists it with the ticket.
    (To move into the ticket store as ``TicketStore.add_photos``, with its own history step.)"""
    data, kind = photo
    folder = photo_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.{'jpg' if kind == 'JPEG' else 'png'}"
    if not path.exists():
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    with session_scope(engine) as session:
        session.add(TicketAttachment(ticket_id=ticket_id, path=str(path), action=action, uploaded_by=actor, at=now))
    return str(path)


# -- broadcasts ----------------------------------------------------------------------------------

def broadcast_preview(engine, subject: Subject, draft: compose.Draft, directory, now: datetime,
                      reach: Optional[audience.Reach] = None) -> audience.Preview:
    """Who would get it (per channel) and who not (per reason); staff of some communities only reach those."""
    return audience.preview(engine, draft, directory, reach or audience.Reach.from_credentials(), now,
                              serves=subject.scope)


def broadcast_send(engine, subject: Subject, draft: compose.Draft, directory, now: datetime, ip: str
                   ) -> lifecycle.BroadcastView:
    """Checks the preview again (the audience may have changed), stores the broadcast as scheduled and
    starts it: now in this process (:func:`start_sending`), later by the scheduler process."""
    try:
        if subject.role != "staff":
            raise Refused(get_config().messages["forbidden"])
        broadcast_preview(engine, subject, draft, directory, now)
        view = lifecycle.create(engine, draft, directory, now, status="scheduled")
    except UserError as error:
        audit(engine, subject, "broadcast_send", now, outcome="refused", detail=error.user_message, ip=ip)
        raise
    audit(engine, subject, "broadcast_send", now, target=str(view.id), ip=ip,
          detail=f"{view.audience.label(broadcasts.get_config())}；{'定时 ' + view.send_at.isoformat() if view.send_at else '立即发送'}")
    start_sending(engine, view, now)
    return view


_running: dict[int, threading.Thread] = {}


def start_sending(engine, view: lifecycle.BroadcastView, now: datetime) -> Optional[threading.Thread]:
    """What `linli broadcast send` does after confirmation, for a process that serves pages: a
    broadcast for later goes to the scheduler; one for now gets a watch job (the scheduler process
    takes over should this one die) and is sent by a thread here, its progress in the delivery
    report's rows. (To move into ``bot.broadcasts`` beside ``schedule``; the CLI's
    ``_send_or_schedule`` does the same with a progress bar.)"""
    from bot.core.clock import utcnow
    from bot.scheduling.scheduler import Scheduler
    from bot.scheduling.settings import SchedulerSettings

    scheduler = Scheduler(engine=engine).open()
    try:
        if view.send_at and view.send_at > now:
            jobs.schedule(scheduler, view, now)
            return None
        scheduler.at(jobs.job_id(view.id, watch=True), "bot.broadcasts:drive",
                     now + broadcasts.get_config().stale_after, quiet=False, broadcast_id=view.id)
    finally:
        scheduler.stop(release=False)
    settings = SchedulerSettings.from_env()

    def send() -> None:
        result = fanout.run(engine, view.id, settings.rasa_url, settings.api_token, utcnow)
        if result.view.status in ("done", "cancelled"):
            done = Scheduler(engine=engine).open()
            try:
                done.remove(jobs.job_id(view.id, watch=True))
            finally:
                done.stop(release=False)

    thread = threading.Thread(target=send, name=f"broadcast-{view.id}", daemon=True)
    _running[view.id] = thread
    thread.start()
    return thread


def broadcast_cancel(engine, subject: Subject, broadcast_id, now: datetime, ip: str) -> lifecycle.BroadcastView:
    try:
        view = lifecycle.get(engine, broadcast_id)
        if view is None:
            raise Refused(f"没有编号为 {str(broadcast_id)[:12]} 的通知。")
        if not broadcast_visible(subject, view):
            raise Refused(get_config().messages["forbidden"])
        view = lifecycle.cancel(engine, view.id, subject.actor, now)
    except UserError as error:
        audit(engine, subject, "broadcast_cancel", now, target=str(broadcast_id)[:12], outcome="refused",
              detail=error.user_message, ip=ip)
        raise
    audit(engine, subject, "broadcast_cancel", now, target=str(view.id), ip=ip)
    return view


def broadcast_visible(subject: Subject, view: lifecycle.BroadcastView) -> bool:
    """Street staff see every broadcast; a community's staff those to their communities."""
    return subject.role == "staff" and (not subject.scope or view.audience.community in subject.scope)


# -- volunteers ----------------------------------------------------------------------------------

def volunteer_change(engine, subject: Subject, action: str, who: str, now: datetime, ip: str
                     ) -> records.VolunteerView:
    """Approve or pause a rider (``bot.volunteers``), as /批准 and /暂停 do; staff only."""
    from bot.config.policy import get_policy

    try:
        if subject.role != "staff":
            raise Refused(get_config().messages["forbidden"])
        if action == "approve":
            rider = records.approve(engine, get_policy(), who, now)
        elif action == "pause":
            rider = records.pause(engine, who, now)
        else:
            raise Refused("这个操作不存在。")
    except UserError as error:
        audit(engine, subject, f"volunteer_{action}"[:32], now, target=str(who)[:128], outcome="refused",
              detail=error.user_message, ip=ip)
        raise
    audit(engine, subject, f"volunteer_{action}", now, target=rider.key, ip=ip)
    return rider
