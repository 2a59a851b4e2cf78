"""What can go wrong with a request about tickets, in words for the person who asked."""
from __future__ import annotations

from bot.config.service import wording
from bot.core.errors import UserError


class TicketError(UserError):
    """A request about tickets that cannot be carried out."""


class UnknownTicket(TicketError):
    def __init__(self, ticket_id: str) -> None:
        shown = str(ticket_id)[:20]
        super().__init__(f"unknown ticket {shown}", wording("refusals", "unknown_ticket", ticket_id=shown))


class NotAllowed(TicketError):
    def __init__(self, detail: str = "") -> None:
        super().__init__(detail, wording("refusals", "not_your_ticket"))


class CannotMerge(TicketError):
    """A merge staff asked for that would lose or tangle history; nothing is changed."""


class AlreadyMerged(CannotMerge):
    """The ticket was merged into another: its work (and any merge) goes on there."""

    def __init__(self, ticket_id: str, into: str) -> None:
        super().__init__(f"{ticket_id} is merged into {into}", f"工单 {ticket_id} 已并入工单 {into}，请直接处理 {into}。")


class NoLongerOpen(TicketError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"{ticket_id} is no longer open", f"工单 {ticket_id} 已经办结了，这次给您单独登记。")


class IllegalTransition(TicketError):
    def __init__(self, ticket_id: str, current: str, wanted: str, labels: dict | None = None) -> None:
        labels = labels or {}
        super().__init__(f"{ticket_id}: {current} -> {wanted} is not allowed",
                         f"工单 {ticket_id} 现在是“{labels.get(current, current)}”，"
                         f"不能改成“{labels.get(wanted, wanted)}”。")
