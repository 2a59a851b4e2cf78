"""Every change the workbench makes, each through the function the chat commands and the CLI use,
each checked against the subject's scope first and written to the audit log (refusals too)."""
from __future__ import annotations

import hashlib
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

from bot.broadcasts import audience, compose, fanout, jobs, lifecycle
from bot.config import broadcasts
from bot.core.errors import PlainUserError, UserError
from bot.core.settings import get_settings
from bot.staff import tickets
from bot.tickets.status import OPEN_VALUES, TRANSITIONS, TicketStatus
from bot.tickets.store import TicketStore
from bot.tickets.views import TicketView
from bot.volunteers import records
from bot.workbench.auth import Subject, audit
from bot.workbench.config import get_config

#: The ticket page's actions, in the order of its buttons; each is a ``bot.staff.act`` action.
TICKET_ACTIONS = ("start", "assign", "note", "resolve", "reopen", "merge")
#: The status an action moves a ticket to (the others change none).
MOVES_TO = {"start": TicketStatus.IN_PROGRESS, "resolve": TicketStatus.RESOLVED, "reopen": TicketStatus.REOPENED}
#: The handler's side of the ticket page, each through the function its chat button calls
#: (``bot.handlers.work``): sign for it, ask for more days, and staff's answer to that request.
WORK_ACTIONS = ("accept", "extension", "extension_decide")
PHOTO_MAX_BYTES = 5 * 1024 * 1024
#: How an uploaded photo is named in the ticket history: letters only (a-p for each hex digit of
#: its SHA-256), so the masking of phone and room numbers in history notes never touches it.
PHOTO_PREFIX = "workbench:"
PHOTO_NAME = re.compile(r"^[a-p]{32}\.(?:jpg|png)$")


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
    :class:`UserError` (``user_message`` for the page) after being audited. A photo goes into the
    ticket's history first, as the chat's 反馈 records its photos before resolving."""
    engine = store.engine
    try:
        if action not in TICKET_ACTIONS:
            raise Refused("这个操作不存在。")
        ticket = _ticket_for(store, subject, ticket_id)
        if action == "merge":
            text = _ticket_for(store, subject, (text or "").strip()).id
        stored = _check_photo(photo) if photo else None
        if stored and _goes_through(ticket, action):
            record_photo(store, ticket.id, stored, subject)
        changed = tickets.act(store, action, ticket.id, subject.actor, (text or "").strip() or None, handler_kind)
        followup = tickets.plan(store, changed)
    except UserError as error:
        audit(engine, subject, f"ticket_{action}"[:32], now, ticket_id=str(ticket_id)[:16], outcome="refused",
              detail=error.user_message, ip=ip)
        raise
    audit(engine, subject, f"ticket_{action}", now, ticket_id=ticket.id, detail=(text or None), ip=ip,
          target=changed.id if action == "merge" else None)
    return Acted(changed, followup)


def _goes_through(ticket: TicketView, action: str) -> bool:
    """Whether the action's transition is legal now: a photo of a refused 办结 is not kept."""
    if ticket.merged_into:
        return False
    return action not in MOVES_TO or MOVES_TO[action] in TRANSITIONS[TicketStatus(ticket.status)]


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


def save_photo(photo: tuple[bytes, str]) -> str:
    """Writes a checked photo under the var folder, named by its content (the same photo twice is one
    file), and returns its file name."""
    data, kind = photo
    digest = hashlib.sha256(data).hexdigest()[:32]
    name = "".join(chr(ord("a") + int(c, 16)) for c in digest) + (".jpg" if kind == "JPEG" else ".png")
    folder = photo_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return name


def record_photo(store: TicketStore, ticket_id: str, photo: tuple[bytes, str], subject: Subject) -> TicketView:
    """The photo in the ticket's history through the ticket store, the step the chat's 反馈 writes
    for a handler's photos (``handler_photos``; residents see its label, staff its note)."""
    name = save_photo(photo)
    who = subject.name or subject.sender_id
    return store.record(ticket_id, subject.actor, "handler_photos", f"{who}现场照片：{PHOTO_PREFIX}{name}")


def history_photos(ticket: TicketView) -> list[tuple[str, bool, datetime]]:
    """(reference, uploaded here, when) of every photo the handler's side added to the ticket's
    history: the workbench's by file name, the chat's by platform file id."""
    found = []
    for event in ticket.history:
        if event.action != "handler_photos" or not event.note or "：" not in event.note:
            continue
        for reference in event.note.partition("：")[2].split("、"):
            name = reference.strip().removeprefix(PHOTO_PREFIX)
            found.append((name, reference.strip().startswith(PHOTO_PREFIX) and bool(PHOTO_NAME.match(name)),
                          event.at))
    return found


def photo_path(ticket: TicketView, name: str) -> Optional[Path]:
    """The file of an uploaded photo this ticket's history names, or None (any other name)."""
    if not any(uploaded and found == name for found, uploaded, _ in history_photos(ticket)):
        return None
    path = photo_folder() / name
    return path if path.is_file() else None


# -- the handler's side: sign for, ask for more days, and staff's answer --------------------------

def _is_handler(ticket: TicketView, subject: Subject) -> bool:
    """Whether the subject receives the ticket's handler's tickets (bot.handlers.contacts)."""
    from bot.handlers.contacts import is_contact

    return is_contact(ticket.handler_name or "", subject.channel, subject.sender_id)


def signed_for(ticket: TicketView) -> bool:
    """Whether the ticket's current handler has signed for it since it was (re)dispatched, read from
    its history as ``bot.handlers.work.is_signed`` reads the row."""
    from bot.handlers.work import DISPATCHING

    steps = [e.action for e in ticket.history]
    last = max((i for i, a in enumerate(steps) if a in DISPATCHING), default=-1)
    return "accepted" in steps[last + 1:]


def pending_extension(engine, ticket_id: str):
    """The ticket's extension request waiting for staff, or None."""
    from bot.handlers.work import pending_extension as pending

    return pending(engine, ticket_id)


def work_allowed(ticket: TicketView, subject: Subject, pending, labels: dict) -> dict:
    """For 签收, 延期 and its approval: None when the button works for this subject now, else why not
    (the same checks ``bot.handlers.work`` makes, asked before the press)."""
    words = get_config().disabled
    status = labels["statuses"].get(ticket.status, ticket.status)
    handler = ticket.handler_name or "承办单位"
    closed = TicketStatus(ticket.status).value not in OPEN_VALUES
    found: dict = {}
    for action in WORK_ACTIONS:
        if ticket.merged_into:
            found[action] = words["merged"].format(target=ticket.merged_into)
        elif closed:
            found[action] = words["transition"].format(status=status, action=labels["actions"][action])
        elif action == "extension_decide":
            found[action] = _decide_refusal(ticket, subject, pending, words)
        elif not _is_handler(ticket, subject):
            found[action] = words["not_handler"].format(handler=handler, action=labels["actions"][action])
        elif action == "accept" and signed_for(ticket):
            found[action] = words["signed"].format(handler=handler)
        elif action == "extension" and pending is not None:
            found[action] = words["extension_pending"]
        else:
            found[action] = None
    return found


def _decide_refusal(ticket: TicketView, subject: Subject, pending, words: dict) -> Optional[str]:
    """Why this subject may not answer the pending request: none pending, not staff of the ticket's
    community, or the request is their own handler's (nobody approves their own extension)."""
    from bot.handlers import work

    if pending is None:
        return words["extension_none"]
    if not subject.serves(ticket.community):
        return words["decide_staff_only"].format(community=ticket.community or "街道")
    if work.own_extension(pending, subject.channel, subject.sender_id):
        return words["decide_own"]
    return None


def work_on_ticket(store: TicketStore, subject: Subject, action: str, ticket_id: str, now: datetime, ip: str,
                   form: dict, labels: dict) -> TicketView:
    """签收, 申请延期 or its answer through the functions the chat's buttons call; refused (and
    audited) when :func:`work_allowed` says no, before anything changes."""
    from bot.handlers import work
    from bot.handlers.policy import handler_policy

    engine = store.engine
    try:
        if action not in WORK_ACTIONS:
            raise Refused("这个操作不存在。")
        ticket = _ticket_for(store, subject, ticket_id)
        pending = pending_extension(engine, ticket.id)
        reason = work_allowed(ticket, subject, pending, labels)[action]
        if reason:
            raise Refused(reason)
        if action == "accept":
            changed, _ = work.accept(store, ticket.id, subject.channel, subject.sender_id)
            detail = None
        elif action == "extension":
            request = work.request_extension(store, handler_policy(), ticket.id, subject.channel, subject.sender_id,
                                             form.get("days") or "", form.get("text") or "")
            changed, detail = store.get_known(ticket.id), f"{request.hours // 24}天：{request.reason}"
        else:
            approve = form.get("decision") == "approve"
            changed = work.decide_extension(store, pending.id, approve, subject.actor,
                                            decider=(subject.channel, subject.sender_id))
            detail = "同意" if approve else "不同意"
    except UserError as error:
        audit(engine, subject, f"ticket_{action}"[:32], now, ticket_id=str(ticket_id)[:16], outcome="refused",
              detail=error.user_message, ip=ip)
        raise
    audit(engine, subject, f"ticket_{action}"[:32], now, ticket_id=changed.id, detail=detail, ip=ip)
    return changed


# -- call-backs (转人工) ----------------------------------------------------------------------------

def callback_visible(subject: Subject, callback) -> bool:
    """Staff of the call-back's community (the street's staff: every one, also those of no community)."""
    return subject.role == "staff" and (not subject.scope or callback.community in subject.scope)


def callback_done(store: TicketStore, subject: Subject, callback_id, note: Optional[str], now: datetime,
                  ip: str):
    """已回电, exactly as `linli callbacks done ID NOTE` does: ``mark_done`` then ``plan_now``, which
    plans the message that tells the resident."""
    from bot.callbacks import store as callbacks
    from bot.workflows.callbacks import plan_now

    try:
        if subject.role != "staff":
            raise Refused(get_config().messages["forbidden"])
        done = callbacks.mark_done(store, callback_id, subject.actor, note, subject.scope)
    except UserError as error:
        audit(store.engine, subject, "callback_done", now, target=str(callback_id)[:12], outcome="refused",
              detail=error.user_message, ip=ip)
        raise
    plan_now(store, done)
    audit(store.engine, subject, "callback_done", now, target=str(done.id), ticket_id=done.ticket_id,
          detail=done.done_note, ip=ip)
    return done


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
