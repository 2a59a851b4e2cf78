"""Supervision (督办) after a failed follow-up: the handler's supervisor is told, later the street."""
from __future__ import annotations

from sqlalchemy import update

from bot.config.directory import get_directory
from bot.config.policy import Policy
from bot.core.db import session_scope
from bot.messaging.recipients import supervision_level
from bot.messaging.send import notify_staff
from bot.scheduling.scheduler import Context
from bot.tickets.views import TicketView
from bot.workflows.followups import FollowUp, FollowUpView, failed_rounds, followup_of


def supervise(context: Context, ticket_id: str, round: int) -> None:
    """督办 after a failed follow-up: the handler's supervisor is told; from the Nth failure the
    street too, and the ticket climbs a tier."""
    followup, ticket = followup_of(context.engine, ticket_id, round), context.tickets.get(ticket_id)
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
                               f"回访{verdict(followup)}，已请{supervisor_name(context.policy, context.tickets.directory.street, ticket, failed)}督办")
    notify_staff(context, f"supervise:{ticket_id}:{round}", context.recipients.supervisors(ticket, failed), "supervision",
            ticket_id, followup_round=str(round))


def supervisor_name(policy: Policy, street: str, ticket: TicketView, failed: int = 1) -> str:
    """Who supervises, as the resident and the history name them."""
    if failed >= policy.street_after_failed or supervision_level(ticket) == "street":
        return street
    return ticket.community or street


def verdict(followup: FollowUpView) -> str:
    labels = get_directory().service.answer_labels
    return "，".join(labels[a] for a in (followup.solved, followup.satisfaction) if a)
