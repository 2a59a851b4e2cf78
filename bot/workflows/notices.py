"""What staff notices say (due soon, whistle, supervision, digest, a dispatch not signed for or
reaching nobody, call-backs), from the ticket or call-back as it is now."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.callbacks import store as callbacks
from bot.config.report import ReportConfig
from bot.config.service import wording
from bot.core.settings import get_settings
from bot.core.text import duration, local_time
from bot.privacy.masks import mask_phone, mask_text
from bot.tickets.errors import TicketError, UnknownTicket
from bot.tickets.masking import masked_words
from bot.tickets.store import TicketStore
from bot.tickets.views import place
from bot.workflows.digest import digest, weekly_links
from bot.workflows.followups import followup_of
from bot.workflows.supervision import verdict


def _weekly(tickets: TicketStore, now: datetime, zone: str) -> str:
    """The Monday digest's lines about last week (service.yml report.digest_weekly); else nothing."""
    links = weekly_links(now, ZoneInfo(zone))
    if links is None:
        return ""
    return ReportConfig.load(get_settings().service_path, tickets.directory.service).digest_weekly.format(**links)


def staff_notice(tickets: TicketStore, notice: str, zone: str, ticket_id: str | None = None,
                 as_of: str | None = None, round_: str | None = None,
                 callback_id: str | None = None) -> tuple[str, dict]:
    """(response name, its parameters) for a staff notice, from the ticket as it is now."""
    now = datetime.fromisoformat(as_of) if as_of else tickets.clock()
    if notice in ("callback", "callback_overdue"):
        return callback_notice(tickets, notice, zone, callback_id)
    if notice == "digest":
        figures = digest(tickets.engine, now)
        return "utter_notice_digest", {
            "callbacks_open": len(figures.open_callbacks), "callbacks_overdue": figures.overdue_callbacks,
            "callback_list": "、".join(f"#{number} {community or '-'} {local_time(due, zone)}"
                                      for number, community, due in figures.open_callbacks) or "无",
            "date": local_time(now, zone)[:-5], "street": tickets.directory.street, "new": figures.new,
            "overdue": figures.overdue, "escalated": figures.escalated, "awaiting": figures.awaiting_followup,
            "overdue_list": "、".join(figures.overdue_ids) or "无",
            "failed_notices": f"\n派单通知没送到 {figures.failed_notices} 次：{'、'.join(figures.failed_notice_ids)}"
                              "（请核对接单联系人）" if figures.failed_notices else "",
            "pending_volunteers": f"\n待审核的骑手志愿者 {figures.pending_volunteers} 人（/志愿者 查看）"
                                  if figures.pending_volunteers else "",
            "weekly": _weekly(tickets, now, zone)}
    ticket = tickets.get(ticket_id or "")
    if ticket is None:
        raise UnknownTicket(ticket_id or "")
    service = tickets.directory.service
    params = {"ticket_id": ticket.id, "category": service.categories[ticket.category].label, "place": place(ticket),
              "handler": ticket.handler_name, "deadline": local_time(ticket.deadline, zone) if ticket.deadline else "-",
              "tier": service.tiers.get(ticket.tier, ticket.tier), "description": masked_words(ticket.description)[:80]}  # rows from before masking too
    if notice == "due_soon":
        assert ticket.deadline is not None, "only a ticket with a deadline is due soon"
        return "utter_notice_due_soon", {**params, "left": duration(ticket.deadline - now)}
    if notice == "whistle":
        assert ticket.deadline is not None, "only a ticket with a deadline is overdue"
        return "utter_notice_whistle", {**params, "overdue": duration(now - ticket.deadline)}
    if notice == "supervision":
        followup = followup_of(tickets.engine, ticket.id, int(round_ or 0))
        return "utter_notice_supervision", {**params, "round": round_ or "", "verdict": verdict(followup) if followup else "",
                                            "comment": (followup.comment if followup else None) or "无"}
    if notice in ("sign_overdue", "no_contact"):
        return f"utter_notice_{notice}", params
    raise TicketError(f"unknown notice {notice}")


def done_button(callback_id: int) -> dict:
    """The one-tap 已回电 under a call-back notice (the chat action checks the staff role)."""
    return {"title": wording("buttons", "callback_done"), "payload": f'/callback_done{{"callback_id":"{callback_id}"}}'}


def callback_notice(tickets: TicketStore, notice: str, zone: str, callback_id: str | None) -> tuple[str, dict]:
    """A call-back for the community's staff, who need the full phone to call; the overdue notice
    also reaches the street, so it shows the phone masked."""
    callback = callbacks.get(tickets, callback_id)
    if callback is None:
        raise TicketError(f"unknown call-back {callback_id}", f"没有回电请求 {callback_id}")
    full = notice == "callback"
    params = {"callback_id": callback.id, "community": callback.community or tickets.directory.street,
              "phone": (callback.phone if full else mask_phone(callback.phone)) or "未留（请在聊天里联系）",
              "time": callback.preferred_time or "未说", "expected_by": local_time(callback.expected_by, zone),
              "ticket": f"（工单 {callback.ticket_id}）" if callback.ticket_id else "",
              "note": mask_text(callback.note or "")[:80] or "无"}
    if callback.status == "open":
        params["buttons"] = [done_button(callback.id)]
    return f"utter_notice_{notice}", params
