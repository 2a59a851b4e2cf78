"""Staff commands in chat ("/工单", "/办结 …", "/志愿者"): parsing the arguments and the reply."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Optional

from bot.config.policy import get_policy
from bot.config.service import wording
from bot.core.text import TICKET_ID_WRITTEN, parse_ticket_id
from bot.people.roster import Staff
from bot.privacy.masks import mask_phone
from bot.staff.tickets import (
    EVENT_OF,
    TICKET_CHANGES,
    CommandError,
    _local,
    act,
    list_tickets,
    ticket_details,
    ticket_line,
)
from bot.tickets.store import TicketStore
from bot.tickets.views import TicketView
from bot.volunteers import points, records

log = logging.getLogger(__name__)


_SEPARATORS = re.compile(r"[\s,，、;；]+")
OVERDUE_WORDS = wording("words", "overdue")
FILLER_WORDS = wording("words", "filler")
LIST_LIMIT = 20


def _ticket_for(store: TicketStore, staff: Staff, ticket_id: Optional[str]) -> TicketView:
    if not ticket_id:
        raise CommandError("请写上工单号，比如 GD202611220007。")
    ticket = store.get(ticket_id)
    if ticket is None:
        raise CommandError(f"没有找到工单 {ticket_id}，请核对一下工单号。")
    if not staff.may_see(ticket):
        scope = f"承办的单位（{'、'.join(staff.handlers)}）" if staff.handlers else f"社区（{'、'.join(staff.communities)}）"
        raise CommandError(f"工单 {ticket.id} 不在您负责的{scope}，请联系街道处理。")
    return ticket


# -- chat commands -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Arguments:
    """A command's words: the ticket ids in it and the rest, in order."""

    ticket_ids: tuple[str, ...]
    rest: str

    @classmethod
    def of(cls, text: str) -> "Arguments":
        text = text or ""
        ids = tuple(canonical for m in TICKET_ID_WRITTEN.finditer(text) if (canonical := parse_ticket_id(m.group(0))))
        rest = TICKET_ID_WRITTEN.sub(" ", text).strip(" \t:：,，。")
        return cls(ids, " ".join(rest.split()))


Reply = tuple[str, dict]


def run_command(store: TicketStore, staff: Staff, command: str, arguments: str, private: bool) -> Reply:
    """(response name, its parameters) for a staff chat command already authorised; raises
    :class:`CommandError`, ``TicketError`` or ``VolunteerError`` with the reason when it cannot."""
    args = Arguments.of(arguments)
    if command == "list" and args.ticket_ids and not args.rest:
        command = "show"
    if command == "list":
        return _list(store, staff, args.rest)
    if command == "show":
        ticket = _ticket_for(store, staff, next(iter(args.ticket_ids), None))
        return "utter_staff_ticket", ticket_details(store, ticket, private)
    if command in TICKET_CHANGES:
        return _change(store, staff, command, args)
    if command in ("volunteers", "approve", "pause", "points"):
        return _volunteers(store, command, args.rest, private)
    if command == "callbacks":
        return _callbacks(store, staff, arguments, private)
    if command == "proactive":
        return _proactive(store, staff, arguments)
    return "utter_staff_commands", {}


def _list(store: TicketStore, staff: Staff, words: str) -> Reply:
    service, named = store.directory.service, []
    filters: dict[str, Any] = {}
    for word in (w for w in _SEPARATORS.split(words) if w):
        if word.lower() in OVERDUE_WORDS:
            filters["overdue"] = True
        elif word.lower() in FILLER_WORDS:
            continue
        elif status := _status(service.status_labels, word):
            filters["status"] = status
        elif community := store.directory.find_community(word):
            filters["community"] = community.name
        else:
            raise CommandError(f"“{word[:20]}”看不懂。可以写状态（{'、'.join(service.status_labels.values())}）、"
                               f"社区名或“逾期”，比如“/工单 望园 逾期”。")
        named.append(word)
    tickets = list_tickets(store, limit=LIST_LIMIT + 1, staff=staff, **filters)
    if not tickets:
        return "utter_staff_no_tickets", {}
    now = store.clock()
    lines = [ticket_line(store, t, now) for t in tickets[:LIST_LIMIT]]
    more = f"\n（只显示最新{LIST_LIMIT}件，加上社区或状态可以缩小范围）" if len(tickets) > LIST_LIMIT else ""
    return "utter_staff_ticket_list", {"title": " ".join(named) or "最新工单", "count": len(lines),
                                       "lines": "\n".join(lines) + more}


def _status(labels: dict, word: str) -> Optional[str]:
    """A status as staff write it: its code or (the start of) its label."""
    word = word.lower()
    if word in labels:
        return word
    return next((code for code, label in labels.items() if len(word) >= 2 and label.startswith(word)), None)


def _change(store: TicketStore, staff: Staff, command: str, args: Arguments) -> Reply:
    ticket = _ticket_for(store, staff, next(iter(args.ticket_ids), None))
    text = args.rest
    if command == "merge":
        if len(args.ticket_ids) < 2:
            raise CommandError("合并要写两个工单号：先写要并入的，再写保留的，比如“/合并 GD…0008 GD…0007”。")
        text = _ticket_for(store, staff, args.ticket_ids[1]).id
    changed = act(store, command, ticket.id, staff.actor, text)
    service = store.directory.service
    status = service.status_labels.get(changed.status, changed.status)
    if command == "merge":
        return "utter_staff_ticket_merged", {"source": ticket.id, "target": changed.id, "status": status}
    done = service.event_labels.get(EVENT_OF.get(command, command), command)
    return "utter_staff_ticket_changed", {"ticket_id": changed.id, "done": done, "handler": changed.handler_name,
                                          "status": status}


# -- call-backs (转人工) ------------------------------------------------------------------------

_CALLBACK_DONE = re.compile(r"^[#＃]?(\d{1,9})(?:\s+|$)(.*)$", re.S)


def _callbacks(store: TicketStore, staff: Staff, words: str, private: bool) -> Reply:
    """"/回电" lists the open call-backs of the staff member's communities; "/回电 12 已约好上门"
    marks one done (the scheduler then tells the resident)."""
    from bot.callbacks import store as callbacks
    from bot.workflows.callbacks import plan_now

    done = _CALLBACK_DONE.match((words or "").strip())
    if done:
        request = callbacks.mark_done(store, done.group(1), staff.actor, done.group(2), staff.communities)
        plan_now(store, request)
        return "utter_staff_callback_done", {"callback_id": request.id}
    if words and words.strip():
        raise CommandError("“/回电”后面写回电编号和备注，比如“/回电 12 已约好明天上门”；只写“/回电”列出待回电的。")
    found = callbacks.list_callbacks(store, "open", staff.communities, LIST_LIMIT)
    if not found:
        return "utter_staff_no_callbacks", {}
    now = store.clock()
    lines = [f"#{r.id}｜{r.community or '-'}｜{r.phone if private and r.phone else mask_phone(r.phone) or '未留'}｜"
             f"{r.preferred_time or '-'}｜{_local(store, r.expected_by)}前{'（超时）' if r.is_overdue(now) else ''}"
             for r in found]
    return "utter_staff_callback_list", {"count": len(lines), "lines": "\n".join(lines)}


# -- 未诉先办 ---------------------------------------------------------------------------------------

_APPROVE = re.compile(r"^(?:批准|同意|approve)?\s*[#＃]?(\d{1,9})$", re.I)


def _proactive(store: TicketStore, staff: Staff, words: str) -> Reply:
    """"/未诉先办" lists the proposals of the staff member's communities (with approve buttons);
    "/未诉先办 批准 3" approves one: its ticket is dispatched and the riders there nudged."""
    from bot.proactive import cases, notices

    approve = _APPROVE.match((words or "").strip())
    if approve:
        case, ticket, riders = cases.approve_now(store, approve.group(1), staff.actor, (staff.channel, staff.sender_id),
                                                 staff.communities)
        return "utter_staff_proactive_approved", {"proactive_id": case.id, "ticket_id": ticket.id,
                                                  "handler": ticket.handler_name, "riders": riders}
    if words and words.strip():
        raise CommandError("“/未诉先办”列出建议；批准一件写“/未诉先办 批准 编号”，比如“/未诉先办 批准 3”。")
    found = cases.list_cases(store, "proposed", staff.communities)
    if not found:
        return "utter_staff_no_proactive", {}
    return "utter_staff_proactive_list", notices.proposals(store, found[:LIST_LIMIT])


# -- rider volunteers --------------------------------------------------------------------------

def _volunteers(store: TicketStore, command: str, words: str, private: bool) -> Reply:
    engine, now, policy = store.engine, store.clock(), get_policy()
    if command == "approve":
        rider = records.approve(engine, policy, _who(words), now)
        return "utter_staff_volunteer_approved", {"name": rider.name, "key": rider.key,
                                                  "areas": "、".join(rider.areas), "times": "、".join(rider.nudge_times)}
    if command == "pause":
        rider = records.pause(engine, _who(words), now)
        return "utter_staff_volunteer_paused", {"name": rider.name, "key": rider.key}
    if command == "points":
        first = points.parse_month(words, policy.zone, now)
        found = points.points(engine, policy.zone, first)
        if not found:
            return "utter_staff_no_volunteers", {}
        return "utter_staff_points", {"month": f"{first.year}年{first.month}月",
                                      "lines": "\n".join(points_line(p) for p in found)}
    status = volunteer_status(words)
    riders = records.list_volunteers(engine, status)
    if not riders:
        return "utter_staff_no_volunteers", {}
    return "utter_staff_volunteer_list", {"count": len(riders),
                                          "lines": "\n".join(volunteer_line(r, private) for r in riders)}


def _who(words: str) -> str:
    if not words:
        raise CommandError("请写上是哪位骑手：名单里的编号（如 wechat:abc）、手机号或姓名。")
    return words


def volunteer_status(words: str) -> Optional[str]:
    """pending / active / paused from what staff wrote ("待审核", "已通过"...); None for all."""
    words = (words or "").strip().lower()
    if not words or words in FILLER_WORDS:
        return None
    found = next((code for code, label in records.STATUS_LABELS.items()
                  if words in (code, label) or (len(words) >= 2 and words in label)), None)
    if found is None:
        raise CommandError(f"“{words[:20]}”看不懂，可以写：{'、'.join(records.STATUS_LABELS.values())}。")
    return found


def volunteer_line(rider: records.VolunteerView, private: bool) -> str:
    phone = f"｜{rider.phone}" if private else ""
    return (f"{rider.name}（{rider.platform or '-'}）｜{'、'.join(rider.areas)}｜{rider.status_label}"
            f"{phone}｜编号 {rider.key}")


def points_line(found: points.Points) -> str:
    return (f"{found.rider.name}（{found.rider.platform or '-'}）：隐患上报已解决 {found.fixed_reports} 件，"
            f"平安巡查 {found.all_clears} 次")
