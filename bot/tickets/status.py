"""Ticket statuses and the legal moves between them."""
from __future__ import annotations

from bot.core.db import StrEnum
from bot.tickets.errors import TicketError


class TicketStatus(StrEnum):
    NEW = "new"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


S = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset({S.DISPATCHED}),
    S.DISPATCHED: frozenset({S.IN_PROGRESS, S.RESOLVED}),
    S.IN_PROGRESS: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REOPENED: frozenset({S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED}),
    S.CLOSED: frozenset({S.REOPENED}),
}
OPEN_STATUSES = frozenset({S.NEW, S.DISPATCHED, S.IN_PROGRESS, S.REOPENED})
#: The open statuses as stored, for SQL ``IN (…)``.
OPEN_VALUES = tuple(sorted(s.value for s in OPEN_STATUSES))


def status_of(value: str) -> TicketStatus:
    try:
        return TicketStatus(value)
    except ValueError:
        raise TicketError(f"unknown status {value}", f"没有“{value}”这个状态。") from None
