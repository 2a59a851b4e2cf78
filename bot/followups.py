"""The timed side of a ticket: follow-ups (回访), deadline watch and escalation (督办, 吹哨), the digest.

The database says what must happen and jobs make it happen on time. :func:`plan` turns one ticket's
state into its jobs and :func:`sweep` does that for every ticket whose jobs are missing — tickets
the action server created or changed, since it writes no jobs itself. Both are idempotent: job ids
are fixed, follow-ups are unique per ticket and round, and each job checks the ticket before acting.

A follow-up goes ``scheduled → asked → (reminded) → answered | no_answer``, or ``cancelled`` when
the ticket left "resolved" before it was asked. Solved and (basically) satisfied closes the ticket;
anything else reopens it, the handler's supervisor is told (督办), and the next resolution brings
the next follow-up (两次回访，两次督办): from the ``street_after_failed``-th failure on, the street
is told too and the ticket climbs a tier.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import (Boolean, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint, delete, exists,
                        func, or_, select, update)
from sqlalchemy.exc import IntegrityError

from bot.db import Base, UtcDateTime, session_scope
from bot.delivery import DeliveryFailed
from bot.models import Ticket, TicketEvent
from bot.people import Volunteer
from bot.scheduler import Context, Policy, Recipient, RetryLater
from bot.tickets import (OPEN_STATUSES, IllegalTransition, NotAllowed, TicketError, TicketStore, TicketView,
                         UnknownTicket, mask_text)

log = logging.getLogger(__name__)

SOLVED_ANSWERS = ("solved", "partly", "unsolved")
SATISFACTION_ANSWERS = ("satisfied", "basically", "dissatisfied")
ANSWER_LABELS = {"solved": "已解决", "partly": "部分解决", "unsolved": "没解决",
                 "satisfied": "满意", "basically": "基本满意", "dissatisfied": "不满意"}
AWAITING = ("asked", "reminded")
ACTIVE = ("scheduled", *AWAITING)
_OPEN = [s.value for s in OPEN_STATUSES]


class FollowUp(Base):
    __tablename__ = "followups"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(16), ForeignKey("tickets.id"), nullable=False)
    round = Column(Integer, nullable=False)
    status = Column(String(16), nullable=False)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(128), nullable=False)
    due_at = Column(UtcDateTime, nullable=False)
    asked_at = Column(UtcDateTime)
    reminded_at = Column(UtcDateTime)
    answered_at = Column(UtcDateTime)
    closed_at = Column(UtcDateTime)  # answered, given up on or cancelled
    solved = Column(String(16))
    satisfaction = Column(String(16))
    outcome = Column(String(16))  # closed | reopened, after an answer
    comment = Column(Text)
    supervised_at = Column(UtcDateTime)

    __table_args__ = (UniqueConstraint("ticket_id", "round", name="uq_followups_ticket_round"),
                      Index("ix_followups_status", "status"), Index("ix_followups_ticket", "ticket_id"),
                      Index("ix_followups_closed_at", "closed_at"))


class DeadlineWatch(Base):
    """The deadline a ticket's watch jobs were planned for, and whether they have acted."""

    __tablename__ = "deadline_watches"

    ticket_id = Column(String(16), ForeignKey("tickets.id"), primary_key=True)
    deadline = Column(UtcDateTime, nullable=False)
    planned = Column(Boolean, nullable=False, default=False)  # its jobs are in the job store
    reminded_at = Column(UtcDateTime)
    escalated_at = Column(UtcDateTime)


@dataclass(frozen=True)
class FollowUpView:
    ticket_id: str
    round: int
    status: str
    channel: str
    sender_id: str
    due_at: datetime
    asked_at: Optional[datetime]
    answered_at: Optional[datetime]
    solved: Optional[str]
    satisfaction: Optional[str]
    outcome: Optional[str]
    comment: Optional[str]

    @classmethod
    def of(cls, row: FollowUp) -> "FollowUpView":
        return cls(row.ticket_id, row.round, row.status, row.channel, row.sender_id, row.due_at, row.asked_at,
                   row.answered_at, row.solved, row.satisfaction, row.outcome, row.comment)


class FollowUpOver(TicketError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"no follow-up awaits an answer for {ticket_id}",
                         f"工单 {ticket_id} 的回访已经结束了，谢谢您！问题要是又出现了，直接跟我说，我重新登记。")


# -- reading ---------------------------------------------------------------------------------------

def followups(engine, ticket_id: str) -> list[FollowUpView]:
    with session_scope(engine) as session:
        rows = session.execute(select(FollowUp).where(FollowUp.ticket_id == ticket_id).order_by(FollowUp.round))
        return [FollowUpView.of(row) for row in rows.scalars()]


def _one(engine, ticket_id: str, round_: int) -> Optional[FollowUpView]:
    with session_scope(engine) as session:
        row = session.execute(select(FollowUp).where(FollowUp.ticket_id == ticket_id,
                                                     FollowUp.round == round_)).scalar()
        return FollowUpView.of(row) if row else None


def _latest(engine, ticket_id: str, statuses) -> Optional[FollowUpView]:
    with session_scope(engine) as session:
        row = session.execute(select(FollowUp).where(FollowUp.ticket_id == ticket_id, FollowUp.status.in_(statuses))
                              .order_by(FollowUp.round.desc()).limit(1)).scalar()
        return FollowUpView.of(row) if row else None


def _move(engine, ticket_id: str, round_: int, from_statuses, **values) -> bool:
    """Compare-and-set: changes the follow-up only if it is still in one of ``from_statuses``, so of
    two racing jobs (or a job and an answer) exactly one wins."""
    with session_scope(engine) as session:
        result = session.execute(update(FollowUp).where(
            FollowUp.ticket_id == ticket_id, FollowUp.round == round_, FollowUp.status.in_(from_statuses))
            .values(**values))
        return result.rowcount == 1


def failed_rounds(engine, ticket_id: str) -> int:
    with session_scope(engine) as session:
        return session.execute(select(func.count()).select_from(FollowUp).where(
            FollowUp.ticket_id == ticket_id, FollowUp.outcome == "reopened")).scalar()


# -- planning --------------------------------------------------------------------------------------

def plan(context: Context, ticket: TicketView) -> Optional[FollowUpView]:
    """Makes sure the ticket's jobs exist for its current state; returns a follow-up it awaits."""
    if ticket.status in _OPEN and ticket.deadline:
        _watch_deadline(context, ticket)
        return None
    _end_watch(context, ticket.id)
    if ticket.status == "resolved":
        return _plan_followup(context, ticket)
    return None


def _watch_deadline(context: Context, ticket: TicketView) -> None:
    """The watch row first, then its jobs, then the row says they exist: a ticket already past its
    deadline has its jobs run at once, and they claim their steps on that row; a crash before the
    last step leaves the watch unplanned, and the sweep plans it again."""
    with session_scope(context.engine) as session:
        watch = session.get(DeadlineWatch, ticket.id)
        if watch and watch.deadline == ticket.deadline and watch.planned:
            return
        if watch is None or watch.deadline != ticket.deadline:  # a new deadline: its steps are still to come
            session.merge(DeadlineWatch(ticket_id=ticket.id, deadline=ticket.deadline, planned=False,
                                        reminded_at=None, escalated_at=None))
    hours = context.tickets.directory.service.deadline_classes.get(ticket.deadline_class, 0)
    start = ticket.deadline - timedelta(hours=float(hours))
    quiet = ticket.deadline_class != "emergency"  # an emergency's handler is told at any hour
    args = {"ticket_id": ticket.id, "deadline": ticket.deadline.isoformat()}
    context.schedule.at(f"deadline:{ticket.id}:remind", "bot.followups:deadline_reminder",
                        start + (ticket.deadline - start) * context.policy.remind_at, quiet=quiet, **args)
    context.schedule.at(f"deadline:{ticket.id}:overdue", "bot.followups:deadline_overdue", ticket.deadline,
                        quiet=quiet, **args)
    with session_scope(context.engine) as session:
        session.execute(update(DeadlineWatch).where(DeadlineWatch.ticket_id == ticket.id,
                                                    DeadlineWatch.deadline == ticket.deadline).values(planned=True))


def _end_watch(context: Context, ticket_id: str) -> None:
    """A ticket no longer open needs no deadline jobs; if it reopens, the sweep watches it anew."""
    with session_scope(context.engine) as session:
        watched = session.execute(delete(DeadlineWatch).where(DeadlineWatch.ticket_id == ticket_id)).rowcount
    if watched:
        for step in ("remind", "overdue"):
            context.schedule.remove(f"deadline:{ticket_id}:{step}")


def _resolved_at(ticket: TicketView) -> datetime:
    return next((e.at for e in reversed(ticket.history) if e.action == "resolved"), ticket.updated_at)


def _plan_followup(context: Context, ticket: TicketView) -> FollowUpView:
    followup = _current_or_next(context, ticket)
    if followup.status == "scheduled":
        context.schedule.at(f"followup:{ticket.id}:{followup.round}:ask", "bot.followups:ask", followup.due_at,
                            ticket_id=ticket.id, round=followup.round)
    return followup


def _current_or_next(context: Context, ticket: TicketView) -> FollowUpView:
    """The follow-up under way, or the next round: due a delay after the resolution, outside the
    quiet hours. One read and at most one insert, in one transaction."""
    try:
        with session_scope(context.engine) as session:
            latest = session.execute(select(FollowUp).where(FollowUp.ticket_id == ticket.id)
                                     .order_by(FollowUp.round.desc()).limit(1)).scalar()
            if latest is not None and latest.status in ACTIVE:
                return FollowUpView.of(latest)
            row = FollowUp(ticket_id=ticket.id, round=(latest.round if latest else 0) + 1, status="scheduled",
                           channel=ticket.reporter_channel, sender_id=ticket.reporter_id,
                           due_at=context.policy.outside_quiet(_resolved_at(ticket) + context.policy.followup_delay))
            session.add(row)
            session.flush()
            return FollowUpView.of(row)
    except IntegrityError:  # another process planned it a moment ago
        return _latest(context.engine, ticket.id, ACTIVE)


def sweep(context: Context, batch: int = 500) -> dict:
    """Plans what nobody planned: new and changed tickets, supervision after a failed follow-up,
    changed nudge subscriptions, progress notices, riders approved or paused. Cheap when there is nothing to do (indexed queries)."""
    counts = {"watched": 0, "followups": 0, "supervisions": 0}
    for ticket_id in _unwatched(context.engine, batch) + _unfollowed(context.engine, batch):
        ticket = context.tickets.get(ticket_id)
        if ticket:
            counts["followups" if ticket.status == "resolved" else "watched"] += 1
            plan(context, ticket)
    for ticket_id, round_ in _unsupervised(context.engine, batch):
        context.schedule.at(f"supervise:{ticket_id}:{round_}", "bot.followups:supervise", context.clock(),
                            quiet=False, ticket_id=ticket_id, round=round_)
        counts["supervisions"] += 1
    from bot import nudges, progress, volunteers  # they build on this module

    counts["nudges"] = nudges.sweep(context, batch)
    counts["progress"] = progress.sweep(context, batch)
    counts["volunteers"] = volunteers.sweep(context, batch)
    return counts


def _unwatched(engine, limit: int) -> list[str]:
    query = (select(Ticket.id).outerjoin(DeadlineWatch, DeadlineWatch.ticket_id == Ticket.id)
             .where(Ticket.status.in_(_OPEN), Ticket.deadline.is_not(None),
                    or_(DeadlineWatch.ticket_id.is_(None), DeadlineWatch.deadline != Ticket.deadline,
                        DeadlineWatch.planned.is_(False)))
             .limit(limit))
    with session_scope(engine) as session:
        return list(session.execute(query).scalars())


def _unfollowed(engine, limit: int) -> list[str]:
    active = exists().where(FollowUp.ticket_id == Ticket.id, FollowUp.status.in_(ACTIVE))
    with session_scope(engine) as session:
        return list(session.execute(select(Ticket.id).where(Ticket.status == "resolved", ~active).limit(limit)).scalars())


def _unsupervised(engine, limit: int) -> list[tuple[str, int]]:
    query = select(FollowUp.ticket_id, FollowUp.round).where(
        FollowUp.status == "answered", FollowUp.outcome == "reopened", FollowUp.supervised_at.is_(None)).limit(limit)
    with session_scope(engine) as session:
        return [tuple(row) for row in session.execute(query)]


def install(context: Context) -> None:
    """The scheduler's own recurring jobs, added (or updated) whenever a scheduler starts."""
    policy, schedule = context.policy, context.schedule
    schedule.every("system:sweep", "bot.followups:sweep", IntervalTrigger(seconds=schedule.settings.sweep_seconds),
                   quiet=False)
    schedule.at("system:sweep-on-start", "bot.followups:sweep", context.clock(), quiet=False)
    schedule.every("system:digest", "bot.followups:send_digest",
                   CronTrigger(hour=policy.digest_time.hour, minute=policy.digest_time.minute, timezone=policy.zone),
                   quiet=False)


# -- follow-up jobs --------------------------------------------------------------------------------

def ask(context: Context, ticket_id: str, round: int) -> None:
    followup, ticket = _one(context.engine, ticket_id, round), context.tickets.get(ticket_id)
    if followup is None or followup.status != "scheduled" or not _still_resolved(context, followup, ticket):
        return
    context.delivery.send(f"followup:{ticket_id}:{round}:ask", Recipient(followup.channel, followup.sender_id),
                          "EXTERNAL_followup", {"ticket_id": ticket_id, "followup_round": str(round)})
    now = context.clock()
    if _move(context.engine, ticket_id, round, ("scheduled",), status="asked", asked_at=now):
        context.tickets.record(ticket_id, "linli", "followup_asked", f"第{round}次回访已发给居民")
        context.schedule.at(f"followup:{ticket_id}:{round}:remind", "bot.followups:remind",
                            context.policy.outside_quiet(now + context.policy.followup_reminder_after),
                            ticket_id=ticket_id, round=round)


def remind(context: Context, ticket_id: str, round: int) -> None:
    followup, ticket = _one(context.engine, ticket_id, round), context.tickets.get(ticket_id)
    if followup is None or followup.status != "asked" or not _still_resolved(context, followup, ticket):
        return
    context.delivery.send(f"followup:{ticket_id}:{round}:remind", Recipient(followup.channel, followup.sender_id),
                          "EXTERNAL_followup", {"ticket_id": ticket_id, "followup_round": str(round),
                                                "reminder": "yes"})
    now = context.clock()
    if _move(context.engine, ticket_id, round, ("asked",), status="reminded", reminded_at=now):
        context.schedule.at(f"followup:{ticket_id}:{round}:no-answer", "bot.followups:give_up",
                            now + context.policy.followup_no_answer_after, quiet=False,
                            ticket_id=ticket_id, round=round)


def give_up(context: Context, ticket_id: str, round: int) -> None:
    """No answer after the reminder: the follow-up is "no answer" and the resolved ticket closes."""
    if not _move(context.engine, ticket_id, round, ("reminded",), status="no_answer", closed_at=context.clock()):
        return
    ticket = context.tickets.get(ticket_id)
    if ticket and ticket.status == "resolved":
        context.tickets.transition(ticket_id, "closed", "linli", f"第{round}次回访两次联系均未答复，按未回访办结",
                                   action="no_answer")


def _still_resolved(context: Context, followup: FollowUpView, ticket: Optional[TicketView]) -> bool:
    """A ticket staff reopened (or closed) before the resident was asked needs no follow-up now."""
    if ticket is not None and ticket.status == "resolved":
        return True
    _move(context.engine, followup.ticket_id, followup.round, ACTIVE, status="cancelled", closed_at=context.clock())
    return False


# -- answers (called by the action server) ----------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """What an answer did: ``next`` is ``ask_satisfaction``, ``ask_solved`` (satisfaction came first),
    ``closed`` or ``reopened``."""

    next: str
    ticket: TicketView
    round: int


def record_answer(tickets: TicketStore, ticket_id: str, channel: str, sender_id: str, answer: str) -> Answer:
    """Records a one-tap answer; someone else's ticket, a closed follow-up or an unknown answer
    changes nothing and raises a :class:`TicketError` with a message for the resident."""
    if answer not in ANSWER_LABELS:
        raise TicketError(f"unknown answer {answer}", "这个回答我没看懂，请点一下消息里的按钮。")
    ticket = _own_ticket(tickets, ticket_id, channel, sender_id)
    followup = _latest(tickets.engine, ticket.id, AWAITING)
    if followup is None or ticket.status != "resolved":
        raise FollowUpOver(ticket.id)
    if answer in SOLVED_ANSWERS:
        if not _move(tickets.engine, ticket.id, followup.round, AWAITING, solved=answer):
            raise FollowUpOver(ticket.id)
        return Answer("ask_satisfaction", ticket, followup.round)
    if followup.solved is None:
        return Answer("ask_solved", ticket, followup.round)
    outcome = "closed" if followup.solved == "solved" and answer != "dissatisfied" else "reopened"
    note = f"第{followup.round}次回访：{ANSWER_LABELS[followup.solved]}，{ANSWER_LABELS[answer]}"
    try:
        changed = tickets.transition(ticket.id, outcome, f"{channel}:{sender_id}", note)
    except IllegalTransition:
        raise FollowUpOver(ticket.id) from None
    now = tickets.clock()
    _move(tickets.engine, ticket.id, followup.round, AWAITING, status="answered", satisfaction=answer,
          outcome=outcome, answered_at=now, closed_at=now)
    return Answer(outcome, changed, followup.round)


def add_comment(tickets: TicketStore, ticket_id: str, channel: str, sender_id: str, text: str,
                photo: str | None = None) -> TicketView:
    """A comment or photo after a follow-up answer goes onto the follow-up and into the history."""
    ticket = _own_ticket(tickets, ticket_id, channel, sender_id)
    followup = _latest(tickets.engine, ticket.id, ("answered", *AWAITING))
    text = mask_text((text or "").strip())[:500]
    if followup is None:
        raise FollowUpOver(ticket.id)
    if not text and not photo:
        raise TicketError("empty comment", "没收到内容，直接打字或发张照片就行。")
    note = "；".join(filter(None, (f"居民补充：{text}" if text else None, f"照片 {photo}" if photo else None)))
    with session_scope(tickets.engine) as session:
        row = session.execute(select(FollowUp).where(FollowUp.ticket_id == ticket.id,
                                                     FollowUp.round == followup.round)).scalar_one()
        row.comment = "\n".join(filter(None, (row.comment, note)))
    return tickets.record(ticket.id, f"{channel}:{sender_id}", "followup_comment", note)


def _own_ticket(tickets: TicketStore, ticket_id: str, channel: str, sender_id: str) -> TicketView:
    ticket = tickets.get(ticket_id) if ticket_id else None
    if ticket is None:
        raise UnknownTicket(ticket_id or "")
    if (ticket.reporter_channel, ticket.reporter_id) != (channel, sender_id):
        raise NotAllowed(f"{channel}:{sender_id} may not answer for {ticket.id}")
    return ticket


# -- deadline watch and supervision jobs ------------------------------------------------------------

def deadline_reminder(context: Context, ticket_id: str, deadline: str) -> None:
    ticket = _watched(context, ticket_id, deadline)
    if ticket is None:
        return
    if _claim_watch(context, ticket_id, "reminded_at"):
        context.tickets.record(ticket_id, "linli", "deadline_reminder", f"临近办理时限，已提醒{ticket.handler_name}")
    _notify(context, f"deadline:{ticket_id}:{deadline}:remind", context.policy.handler_staff(ticket), "due_soon",
            ticket_id)


def deadline_overdue(context: Context, ticket_id: str, deadline: str) -> None:
    """Overdue: one tier up and a whistle to the street listing the ticket."""
    ticket = _watched(context, ticket_id, deadline)
    if ticket is None:
        return
    if _claim_watch(context, ticket_id, "escalated_at"):
        context.tickets.escalate(ticket_id, "linli", "超过办理时限未办结")
    _notify(context, f"deadline:{ticket_id}:{deadline}:whistle",
            tuple(dict.fromkeys(context.policy.street + context.policy.handler_staff(ticket))), "whistle", ticket_id)


def _watched(context: Context, ticket_id: str, deadline: str) -> Optional[TicketView]:
    """The ticket, if it is still open with the deadline this job was planned for."""
    ticket = context.tickets.get(ticket_id)
    if ticket is None or ticket.status not in _OPEN or ticket.deadline != datetime.fromisoformat(deadline):
        return None
    return ticket


def _claim_watch(context: Context, ticket_id: str, column: str) -> bool:
    with session_scope(context.engine) as session:
        result = session.execute(update(DeadlineWatch).where(
            DeadlineWatch.ticket_id == ticket_id, getattr(DeadlineWatch, column).is_(None))
            .values({column: context.clock()}))
        return result.rowcount == 1


def supervise(context: Context, ticket_id: str, round: int) -> None:
    """督办 after a failed follow-up: the handler's supervisor is told; from the Nth failure the
    street too, and the ticket climbs a tier."""
    followup, ticket = _one(context.engine, ticket_id, round), context.tickets.get(ticket_id)
    if followup is None or followup.outcome != "reopened" or ticket is None:
        return
    failed = failed_rounds(context.engine, ticket_id)
    with session_scope(context.engine) as session:
        claimed = session.execute(update(FollowUp).where(
            FollowUp.ticket_id == ticket_id, FollowUp.round == round, FollowUp.supervised_at.is_(None))
            .values(supervised_at=context.clock())).rowcount == 1
    if claimed:
        if failed >= context.policy.street_after_failed:
            context.tickets.escalate(ticket_id, "linli", f"第{failed}次回访仍未解决")
        context.tickets.record(ticket_id, "linli", "supervised",
                               f"回访{_verdict(followup)}，已请{supervisor_name(context.policy, context.tickets.directory.street, ticket, failed)}督办")
    _notify(context, f"supervise:{ticket_id}:{round}", context.policy.supervisors(ticket, failed), "supervision",
            ticket_id, followup_round=str(round))


def supervisor_name(policy: Policy, street: str, ticket: TicketView, failed: int = 1) -> str:
    """Who supervises, as the resident and the history name them."""
    if failed >= policy.street_after_failed or policy.supervision_level(ticket) == "street":
        return street
    return ticket.community or street


def _verdict(followup: FollowUpView) -> str:
    return "，".join(ANSWER_LABELS[a] for a in (followup.solved, followup.satisfaction) if a)


def _notify(context: Context, key: str, recipients, notice: str, ticket_id: str | None = None, **entities) -> None:
    """One staff notice to each recipient."""
    send_each(context, key, recipients, "EXTERNAL_staff_notice", {"notice": notice, "ticket_id": ticket_id, **entities})


def send_each(context: Context, key: str, recipients, intent: str, entities: dict) -> None:
    """``intent`` to each recipient, each delivered once under ``key``; failures are retried together
    (the job runs again and the ones already sent are skipped)."""
    failures = []
    for to in recipients:
        try:
            context.delivery.send(f"{key}:{to.channel}:{to.conversation_id}", to, intent, entities)
        except DeliveryFailed as error:
            failures.append(str(error))
    if failures:
        raise RetryLater("; ".join(failures))


# -- digest ----------------------------------------------------------------------------------------

def send_digest(context: Context) -> None:
    now = context.clock()
    day = now.astimezone(context.policy.zone).date().isoformat()
    _notify(context, f"digest:{day}", context.policy.digest, "digest", as_of=now.isoformat())


@dataclass(frozen=True)
class Digest:
    new: int
    overdue: int
    escalated: int
    awaiting_followup: int
    overdue_ids: tuple[str, ...]
    pending_volunteers: int = 0


def digest(engine, as_of: datetime, community: str | None = None) -> Digest:
    """The last 24 hours for staff: new, overdue now, escalated, awaiting follow-up; and rider
    sign-ups waiting for approval (street-wide: a rider patrols several communities)."""
    since = as_of - timedelta(days=1)
    where = [Ticket.community == community] if community else []
    with session_scope(engine) as session:
        def count(*conditions, of=Ticket):
            query = select(func.count()).select_from(of)
            if of is not Ticket:
                query = query.join(Ticket, Ticket.id == of.ticket_id)
            return session.execute(query.where(*where, *conditions)).scalar()

        overdue = [Ticket.status.in_(_OPEN), Ticket.deadline < as_of]
        overdue_ids = session.execute(select(Ticket.id).where(*where, *overdue).order_by(Ticket.deadline).limit(5))
        return Digest(new=count(Ticket.created_at >= since, Ticket.created_at < as_of), overdue=count(*overdue),
                      escalated=count(TicketEvent.action == "escalated", TicketEvent.at >= since,
                                      TicketEvent.at < as_of, of=TicketEvent),
                      awaiting_followup=count(FollowUp.status.in_(ACTIVE), of=FollowUp),
                      overdue_ids=tuple(overdue_ids.scalars()),
                      pending_volunteers=session.execute(select(func.count()).select_from(Volunteer)
                                                         .where(Volunteer.status == "pending")).scalar())


# -- what the dialogue says (used by actions/followup.py) ------------------------------------------

def answer_buttons(ticket_id: str, answers) -> list[dict]:
    return [{"title": ANSWER_LABELS[a],
             "payload": f'/followup_answer{{"ticket_id":"{ticket_id}","followup_result":"{a}"}}'} for a in answers]


def local_time(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.month}月{local.day}日{local:%H:%M}"


def place(ticket: TicketView) -> str:
    parts = [ticket.community or "", f"{ticket.building}号楼" if ticket.building else "",
             f"{ticket.unit}单元" if ticket.unit else ""]
    return "".join(parts) or "（未注明地点）"


def duration(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes >= 48 * 60:
        return f"{minutes // (24 * 60)}天"
    if minutes >= 60:
        return f"{minutes // 60}小时"
    return f"{minutes}分钟"


def staff_notice(tickets: TicketStore, notice: str, zone: str, ticket_id: str | None = None,
                 as_of: str | None = None, round_: str | None = None) -> tuple[str, dict]:
    """(response name, its parameters) for a staff notice, from the ticket as it is now."""
    now = datetime.fromisoformat(as_of) if as_of else tickets.clock()
    if notice == "digest":
        figures = digest(tickets.engine, now)
        return "utter_notice_digest", {
            "date": local_time(now, zone)[:-5], "street": tickets.directory.street, "new": figures.new,
            "overdue": figures.overdue, "escalated": figures.escalated, "awaiting": figures.awaiting_followup,
            "overdue_list": "、".join(figures.overdue_ids) or "无",
            "pending_volunteers": f"\n待审核的骑手志愿者 {figures.pending_volunteers} 人（/志愿者 查看）"
                                  if figures.pending_volunteers else ""}
    ticket = tickets.get(ticket_id or "")
    if ticket is None:
        raise UnknownTicket(ticket_id or "")
    service = tickets.directory.service
    params = {"ticket_id": ticket.id, "category": service.categories[ticket.category].label, "place": place(ticket),
              "handler": ticket.handler_name, "deadline": local_time(ticket.deadline, zone) if ticket.deadline else "-",
              "tier": service.tiers.get(ticket.tier, ticket.tier), "description": ticket.description[:80]}
    if notice == "due_soon":
        return "utter_notice_due_soon", {**params, "left": duration(ticket.deadline - now)}
    if notice == "whistle":
        return "utter_notice_whistle", {**params, "overdue": duration(now - ticket.deadline)}
    if notice == "supervision":
        followup = _one(tickets.engine, ticket.id, int(round_ or 0))
        return "utter_notice_supervision", {**params, "round": round_ or "", "verdict": _verdict(followup) if followup else "",
                                            "comment": (followup.comment if followup else None) or "无"}
    raise TicketError(f"unknown notice {notice}")
