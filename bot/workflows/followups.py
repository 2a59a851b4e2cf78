"""Follow-ups (回访) after a ticket is resolved: asking, reminding, giving up, and the answers.

A follow-up goes ``scheduled → asked → (reminded) → answered | no_answer``, or ``cancelled`` when
the ticket left "resolved" before it was asked. Solved and (basically) satisfied closes the ticket;
anything else reopens it, the handler's supervisor is told (督办), and the next resolution brings
the next follow-up (两次回访，两次督办).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from bot.config.directory import get_directory
from bot.config.policy import get_policy
from bot.core.db import Base, EnumString, StrEnum, UtcDateTime, session_scope
from bot.messaging.recipients import Recipient
from bot.privacy.masks import mask_text
from bot.scheduling.registry import on_rebuild, sweep_step
from bot.scheduling.scheduler import Context
from bot.tickets.errors import IllegalTransition, NotAllowed, TicketError, UnknownTicket
from bot.tickets.models import Ticket
from bot.tickets.store import TicketStore
from bot.tickets.views import TicketView

log = logging.getLogger(__name__)


SOLVED_ANSWERS = ("solved", "partly", "unsolved")
SATISFACTION_ANSWERS = ("satisfied", "basically", "dissatisfied")


class FollowUpStatus(StrEnum):
    SCHEDULED = "scheduled"
    ASKED = "asked"
    REMINDED = "reminded"
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"


F = FollowUpStatus
AWAITING = (F.ASKED, F.REMINDED)
ACTIVE = (F.SCHEDULED, *AWAITING)


class FollowUp(Base):
    __tablename__ = "followups"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(16), ForeignKey("tickets.id"), nullable=False)
    round = Column(Integer, nullable=False)
    status = Column(EnumString(FollowUpStatus), nullable=False)
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


def followup_of(engine, ticket_id: str, round_: int) -> Optional[FollowUpView]:
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


def _resolved_at(ticket: TicketView) -> datetime:
    return next((e.at for e in reversed(ticket.history) if e.action == "resolved"), ticket.updated_at)


def plan_followup(context: Context, ticket: TicketView) -> FollowUpView:
    followup = _current_or_next(context, ticket)
    if followup.status == F.SCHEDULED:
        _schedule_ask(context, ticket.id, followup.round, followup.due_at)
    return followup


def _schedule_ask(context: Context, ticket_id: str, round_: int, due_at: datetime) -> None:
    context.schedule.at(f"followup:{ticket_id}:{round_}:ask", ask, due_at, ticket_id=ticket_id, round=round_)


def _schedule_remind(context: Context, ticket_id: str, round_: int, asked_at: datetime) -> None:
    context.schedule.at(f"followup:{ticket_id}:{round_}:remind", remind,
                        context.policy.outside_quiet(asked_at + context.policy.followup_reminder_after),
                        ticket_id=ticket_id, round=round_)


def _schedule_give_up(context: Context, ticket_id: str, round_: int, reminded_at: datetime) -> None:
    context.schedule.at(f"followup:{ticket_id}:{round_}:no-answer", give_up,
                        reminded_at + context.policy.followup_no_answer_after, quiet=False,
                        ticket_id=ticket_id, round=round_)


_STEP_JOBS = {"scheduled": "ask", "asked": "remind", "reminded": "no-answer"}
_STEP_COLUMNS = (FollowUp.ticket_id, FollowUp.round, FollowUp.status, FollowUp.due_at, FollowUp.asked_at,
                 FollowUp.reminded_at)


def _replan(context: Context, rows, only_missing: bool) -> int:
    """The job of each follow-up's next step again; with ``only_missing`` just where the job store
    has it in none of its forms (itself, its retry, its morning after quiet hours)."""
    planned = 0
    for ticket_id, round_, status, due_at, asked_at, reminded_at in rows:
        job_id = f"followup:{ticket_id}:{round_}:{_STEP_JOBS[status]}"
        if only_missing and any(context.schedule.get(f"{job_id}{suffix}") for suffix in ("", ":retry", ":after-quiet")):
            continue
        if status == "scheduled":
            _schedule_ask(context, ticket_id, round_, due_at)
        elif status == "asked":
            _schedule_remind(context, ticket_id, round_, asked_at)
        else:
            _schedule_give_up(context, ticket_id, round_, reminded_at)
        planned += 1
    return planned


@on_rebuild("followups")
def rebuild(context: Context) -> int:
    """Every follow-up under way gets the job of its next step again (a lost job store)."""
    with session_scope(context.engine) as session:
        rows = session.execute(select(*_STEP_COLUMNS).where(FollowUp.status.in_(ACTIVE))).all()
    return _replan(context, rows, only_missing=False)


@sweep_step("stalled-followups")
def replan_stalled(context: Context, batch: int = 500) -> int:
    """A follow-up whose step is overdue by more than a sweep and whose job is gone gets it again.
    APScheduler takes a job out of the store when it hands it to a worker thread: a scheduler
    killed (or a store emptied) before the job finished would otherwise lose that follow-up for
    good, since SQL still says it is under way."""
    late = context.clock() - timedelta(seconds=context.schedule.settings.sweep_seconds)
    policy = context.policy
    with session_scope(context.engine) as session:
        rows = session.execute(select(*_STEP_COLUMNS).where(or_(
            and_(FollowUp.status == "scheduled", FollowUp.due_at < late),
            and_(FollowUp.status == "asked", FollowUp.asked_at < late - policy.followup_reminder_after),
            and_(FollowUp.status == "reminded", FollowUp.reminded_at < late - policy.followup_no_answer_after)))
            .limit(batch)).all()
    return _replan(context, rows, only_missing=True)


def _current_or_next(context: Context, ticket: TicketView) -> FollowUpView:
    """The follow-up under way, or the next round: due a delay after the resolution, outside the
    quiet hours. One read and at most one insert, in one transaction."""
    try:
        with session_scope(context.engine) as session:
            latest = session.execute(select(FollowUp).where(FollowUp.ticket_id == ticket.id)
                                     .order_by(FollowUp.round.desc()).limit(1)).scalar()
            if latest is not None and latest.status in ACTIVE:
                return FollowUpView.of(latest)
            row = FollowUp(ticket_id=ticket.id, round=(latest.round if latest else 0) + 1, status=F.SCHEDULED,
                           channel=ticket.reporter_channel, sender_id=ticket.reporter_id,
                           due_at=context.policy.outside_quiet(_resolved_at(ticket) + context.policy.followup_delay))
            session.add(row)
            session.flush()
            return FollowUpView.of(row)
    except IntegrityError:  # another process planned it a moment ago
        planned = _latest(context.engine, ticket.id, ACTIVE)
        if planned is None:
            raise
        return planned


# -- follow-up jobs --------------------------------------------------------------------------------

def ask(context: Context, ticket_id: str, round: int) -> None:
    followup, ticket = followup_of(context.engine, ticket_id, round), context.tickets.get(ticket_id)
    if followup is None or followup.status != F.SCHEDULED or not _still_resolved(context, followup, ticket):
        return
    context.delivery.send(f"followup:{ticket_id}:{round}:ask", Recipient(followup.channel, followup.sender_id),
                          "EXTERNAL_followup", {"ticket_id": ticket_id, "followup_round": str(round)})
    now = context.clock()
    if _move(context.engine, ticket_id, round, (F.SCHEDULED,), status=F.ASKED, asked_at=now):
        context.tickets.record(ticket_id, "linli", "followup_asked", f"第{round}次回访已发给居民")
        _schedule_remind(context, ticket_id, round, now)


def remind(context: Context, ticket_id: str, round: int) -> None:
    followup, ticket = followup_of(context.engine, ticket_id, round), context.tickets.get(ticket_id)
    if followup is None or followup.status != F.ASKED or not _still_resolved(context, followup, ticket):
        return
    context.delivery.send(f"followup:{ticket_id}:{round}:remind", Recipient(followup.channel, followup.sender_id),
                          "EXTERNAL_followup", {"ticket_id": ticket_id, "followup_round": str(round),
                                                "reminder": "yes"})
    now = context.clock()
    if _move(context.engine, ticket_id, round, (F.ASKED,), status=F.REMINDED, reminded_at=now):
        _schedule_give_up(context, ticket_id, round, now)


def give_up(context: Context, ticket_id: str, round: int) -> None:
    """No answer after the reminder: the follow-up is "no answer" and the resolved ticket closes."""
    if not _move(context.engine, ticket_id, round, (F.REMINDED,), status=F.NO_ANSWER, closed_at=context.clock()):
        return
    ticket = context.tickets.get(ticket_id)
    if ticket and ticket.status == "resolved":
        context.tickets.transition(ticket_id, "closed", "linli", f"第{round}次回访两次联系均未答复，按未回访办结",
                                   action="no_answer")


def _still_resolved(context: Context, followup: FollowUpView, ticket: Optional[TicketView]) -> bool:
    """A ticket staff reopened (or closed) before the resident was asked needs no follow-up now."""
    if ticket is not None and ticket.status == "resolved":
        return True
    _move(context.engine, followup.ticket_id, followup.round, ACTIVE, status=F.CANCELLED, closed_at=context.clock())
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
    labels = tickets.directory.service.answer_labels
    if answer not in (*SOLVED_ANSWERS, *SATISFACTION_ANSWERS):
        raise TicketError(f"unknown answer {answer}", "这个回答我没看懂，请点一下消息里的按钮。")
    ticket = _own_ticket(tickets, ticket_id, channel, sender_id)
    if answer in SATISFACTION_ANSWERS and ticket.status == "reopened":
        return _satisfaction_after_reopening(tickets, ticket, answer)
    followup = _latest(tickets.engine, ticket.id, AWAITING)
    if followup is None or ticket.status != "resolved":
        raise FollowUpOver(ticket.id)
    if answer in SOLVED_ANSWERS and answer != "solved":
        return _reopen_at_once(tickets, ticket, followup, answer, f"{channel}:{sender_id}")
    if answer in SOLVED_ANSWERS:
        if not _move(tickets.engine, ticket.id, followup.round, AWAITING, solved=answer):
            raise FollowUpOver(ticket.id)
        return Answer("ask_satisfaction", ticket, followup.round)
    if followup.solved is None:
        return Answer("ask_solved", ticket, followup.round)
    outcome = "closed" if followup.solved == "solved" and answer != "dissatisfied" else "reopened"
    note = f"第{followup.round}次回访：{labels[followup.solved]}，{labels[answer]}"
    try:
        changed = tickets.transition(ticket.id, outcome, f"{channel}:{sender_id}", note)
    except IllegalTransition:
        raise FollowUpOver(ticket.id) from None
    now = tickets.clock()
    _move(tickets.engine, ticket.id, followup.round, AWAITING, status=F.ANSWERED, satisfaction=answer,
          outcome=outcome, answered_at=now, closed_at=now)
    return Answer(outcome, changed, followup.round)


def _reopen_at_once(tickets: TicketStore, ticket: TicketView, followup: FollowUpView, solved: str,
                    actor: str) -> Answer:
    """"没解决" reopens the ticket the moment it is said: the handler starts again now, and the
    follow-up counts as answered whether or not the satisfaction question that follows is."""
    labels = tickets.directory.service.answer_labels
    now = tickets.clock()
    if not _move(tickets.engine, ticket.id, followup.round, AWAITING, status=F.ANSWERED, solved=solved,
                 outcome="reopened", answered_at=now, closed_at=now):
        raise FollowUpOver(ticket.id)
    try:
        changed = tickets.transition(ticket.id, "reopened", actor, f"第{followup.round}次回访：{labels[solved]}")
    except IllegalTransition:
        raise FollowUpOver(ticket.id) from None
    return Answer("ask_satisfaction", changed, followup.round)


def _satisfaction_after_reopening(tickets: TicketStore, ticket: TicketView, answer: str) -> Answer:
    """The satisfaction answer after "没解决" is recorded on the round it reopened, once."""
    with session_scope(tickets.engine) as session:
        round_ = session.execute(select(func.max(FollowUp.round)).where(FollowUp.ticket_id == ticket.id)).scalar()
        claimed = session.execute(update(FollowUp).where(
            FollowUp.ticket_id == ticket.id, FollowUp.round == round_, FollowUp.status == F.ANSWERED,
            FollowUp.outcome == "reopened", FollowUp.satisfaction.is_(None)).values(satisfaction=answer)).rowcount
    if not claimed:
        raise FollowUpOver(ticket.id)
    note = f"第{round_}次回访满意度：{tickets.directory.service.answer_labels[answer]}"
    return Answer("reopened", tickets.record(ticket.id, f"{ticket.reporter_channel}:{ticket.reporter_id}",
                                             "followup_comment", note), round_)


def add_comment(tickets: TicketStore, ticket_id: str, channel: str, sender_id: str, text: str,
                photo: str | None = None) -> TicketView:
    """A comment or photo after a follow-up answer goes onto the follow-up and into the history."""
    ticket = _own_ticket(tickets, ticket_id, channel, sender_id)
    followup = _latest(tickets.engine, ticket.id, (F.ANSWERED, *AWAITING))
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


@dataclass(frozen=True)
class Awaiting:
    """A follow-up waiting for its resident's answer, and the question it is at."""

    ticket_id: str
    question: str  # "solved" (解决了吗) first, then "satisfaction" (满意吗)


def awaiting_answer(tickets: TicketStore, channel: str, sender_id: str) -> Optional[Awaiting]:
    """The follow-up this resident was asked last and has not answered, while its ticket waits for
    it: a message typed then may be the answer."""
    own = (Ticket.reporter_channel == channel, Ticket.reporter_id == sender_id)
    with session_scope(tickets.engine) as session:
        row = session.execute(select(FollowUp.ticket_id, FollowUp.solved).join(Ticket, Ticket.id == FollowUp.ticket_id)
                              .where(*own, Ticket.status == "resolved", FollowUp.status.in_(AWAITING))
                              .order_by(FollowUp.asked_at.desc()).limit(1)).first()
        if row:
            return Awaiting(row.ticket_id, "satisfaction" if row.solved else "solved")
        # "没解决" reopened the ticket at once; the satisfaction question after it waits a while too.
        since = tickets.clock() - get_policy().followup_no_answer_after
        reopened = session.execute(select(FollowUp.ticket_id).join(Ticket, Ticket.id == FollowUp.ticket_id).where(
            *own, Ticket.status == "reopened", FollowUp.status == F.ANSWERED, FollowUp.outcome == "reopened",
            FollowUp.satisfaction.is_(None), FollowUp.answered_at >= since)
            .order_by(FollowUp.answered_at.desc()).limit(1)).scalar()
    return Awaiting(reopened, "satisfaction") if reopened else None


_BY_INTENT = {"feedback_positive": 0, "affirm": 0, "feedback_negative": -1, "deny": -1}  # first or last answer


def typed_answers(text: str, intent: Optional[str], question: str, words: dict) -> tuple[str, ...]:
    """The answers a typed reply gives, in the order to record them: to the question asked, by its
    words (service.yml ``typed_answers``) or else by the intent (修好了 → solved, 还是漏 → unsolved),
    and to the satisfaction question as well when it says so too ("修好了，挺满意"). Nothing when it
    answers the question asked by neither."""
    satisfaction = _first_said(text, SATISFACTION_ANSWERS, words)
    if question == "satisfaction":
        satisfaction = satisfaction or _by_intent(intent, SATISFACTION_ANSWERS)
        return (satisfaction,) if satisfaction else ()
    solved = _first_said(text, SOLVED_ANSWERS, words) or _by_intent(intent, SOLVED_ANSWERS)
    return tuple(a for a in (solved, satisfaction) if a) if solved else ()


def is_bare_answer(text: str, words: dict, labels: dict) -> bool:
    """A reply that is only an answer ("解决了", "没有", "一般吧"), with nothing left to keep as the
    resident's comment once the answer's words are taken out."""
    for word in sorted({*labels.values(), *(w for found in words.values() for w in found)}, key=len, reverse=True):
        text = text.replace(word, "")
    return len([ch for ch in text if ch.isalnum()]) < 3


def _first_said(text: str, answers, words: dict) -> Optional[str]:
    return next((a for a in words if a in answers and any(w in text for w in words[a])), None)


def _by_intent(intent: Optional[str], answers) -> Optional[str]:
    return answers[_BY_INTENT[intent]] if intent in _BY_INTENT else None


def _own_ticket(tickets: TicketStore, ticket_id: str, channel: str, sender_id: str) -> TicketView:
    ticket = tickets.get(ticket_id) if ticket_id else None
    if ticket is None:
        raise UnknownTicket(ticket_id or "")
    if (ticket.reporter_channel, ticket.reporter_id) != (channel, sender_id):
        raise NotAllowed(f"{channel}:{sender_id} may not answer for {ticket.id}")
    return ticket


# -- what the dialogue says (used by actions/followup.py) ------------------------------------------

def answer_buttons(ticket_id: str, answers) -> list[dict]:
    """One-tap answer buttons, titled as service.yml ``answer_labels`` says."""
    labels = get_directory().service.answer_labels
    return [{"title": labels[a],
             "payload": f'/followup_answer{{"ticket_id":"{ticket_id}","followup_result":"{a}"}}'} for a in answers]
