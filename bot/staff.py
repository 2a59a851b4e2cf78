"""What staff do with tickets and rider volunteers, for the command line (`linli tickets`,
`linli volunteers`) and the chat commands (actions/staff.py) alike: one implementation of each step.

In chat, every command is checked against the sender's role when it arrives (:func:`authorize`),
so a staff member removed from the roster loses access at once; community staff see and change the
tickets of the communities they serve only. Group chats never get phone or room numbers: ticket
details in full are for private chats.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Optional

from bot import people, volunteers
from bot.directory import Directory
from bot.errors import PlainUserError
from bot.followups import place
from bot.people import StaffFileError, role_of, staff_communities, staff_file
from bot.scheduler import get_policy
from bot.tickets import TicketStore, TicketView, mask_text, parse_ticket_id

log = logging.getLogger(__name__)

_TICKET_IDS = re.compile(r"(?i)(?<![a-z0-9])GD\s*\d{12}(?!\d)")
_SEPARATORS = re.compile(r"[\s,，、;；]+")
OVERDUE_WORDS = ("逾期", "超期", "超时", "过期", "overdue")
FILLER_WORDS = ("列表", "全部", "所有", "list", "all")
LIST_LIMIT = 20
HISTORY_SHOWN = 5


class CommandError(PlainUserError):
    """A staff command that cannot be carried out as written."""


@dataclass(frozen=True)
class Staff:
    """A staff member, checked just now: who acts (for the history) and where."""

    channel: str
    sender_id: str
    communities: tuple[str, ...] = ()  # empty: the whole street

    @property
    def actor(self) -> str:
        return f"staff:{self.channel}:{self.sender_id}"

    def serves(self, community: Optional[str]) -> bool:
        return not self.communities or community in self.communities


_synced: dict[tuple[str, str], tuple[int, int]] = {}


def authorize(channel: str, sender_id: str, engine) -> Optional[Staff]:
    """The sender as staff, or None: asked of the database on every call, after catching up with
    a hand-edited staff file."""
    _sync_if_changed(engine)
    if role_of(channel, sender_id, engine) != "staff":
        return None
    return Staff(channel, sender_id, staff_communities(channel, sender_id, engine))


def _sync_if_changed(engine) -> None:
    path = staff_file()
    try:
        info = path.stat()
    except OSError:
        return
    key, stamp = (str(engine.url), str(path)), (info.st_mtime_ns, info.st_size)
    if _synced.get(key) == stamp:
        return
    try:
        people.sync_staff(engine, path)
    except StaffFileError as error:
        log.error("staff file %s not applied: %s", path, error)
    _synced[key] = stamp


# -- tickets -----------------------------------------------------------------------------------

TICKET_CHANGES = ("start", "resolve", "reopen", "assign", "note", "merge")
#: The history action each change records, whose label (service.yml) tells staff what was done.
_EVENT_OF = {"start": "in_progress", "resolve": "resolved", "reopen": "reopened", "assign": "assigned"}


def handler_of(directory: Directory, name: str) -> tuple[str, str]:
    """(handler kind, name) for a handler staff name: a property company, community, street
    department or owner unit from the directory."""
    name = (name or "").strip()
    if name in directory.property_companies:
        return "property_company", name
    for company in directory.property_companies.values():
        if name == company.short_name:
            return "property_company", company.name
    department = next((d for d in directory.departments.values() if d.name == name), None)
    if department:
        return "department", department.name
    community = next((c for c in directory.communities if name in (c.name, *c.aliases)), None)
    if community:
        return "community", community.name
    owners = {b.owner_unit for c in directory.communities for b in c.buildings.values() if b.owner_unit}
    if name in owners:
        return "owner_unit", name
    raise CommandError(f"目录里没有“{name[:30]}”这个承办单位。可以写物业公司、社区、产权单位或街道科室的名称。")


def act(store: TicketStore, action: str, ticket_id: str, actor: str, text: str | None = None,
        handler_kind: str | None = None) -> TicketView:
    """One change to a ticket, recorded in its history; ``text`` is the reason or note, the new
    handler (assign) or the ticket merged into (merge)."""
    changes: dict[str, Callable[[], TicketView]] = {
        "start": lambda: store.transition(ticket_id, "in_progress", actor, text or None),
        "resolve": lambda: store.transition(ticket_id, "resolved", actor, text or None),
        "reopen": lambda: store.transition(ticket_id, "reopened", actor, text or None),
        "assign": lambda: store.assign(ticket_id, *_handler(store.directory, text, handler_kind), actor),
        "note": lambda: store.add_note(ticket_id, actor, text or ""),
        "merge": lambda: store.merge(ticket_id, text or "", actor),
    }
    return changes[action]()


def _handler(directory: Directory, name: Optional[str], kind: Optional[str]) -> tuple[str, str]:
    return (kind, name or "") if kind else handler_of(directory, name or "")


def plan(store: TicketStore, ticket: TicketView):
    """Writes the jobs a change calls for at once (the scheduler's sweep would, within a minute);
    returns the follow-up the ticket now awaits, if any."""
    from bot import followups
    from bot.scheduler import Scheduler

    scheduler = Scheduler(engine=store.engine).open()
    try:
        return followups.plan(scheduler.planning_context(store), ticket)
    finally:
        scheduler.stop(release=False)


def list_tickets(store: TicketStore, status: str | None = None, community: str | None = None,
                 overdue: bool | None = None, limit: int = 50, staff: Staff | None = None) -> list[TicketView]:
    """Newest first; a community staff member sees their communities' tickets only."""
    if staff is None or not staff.communities:
        return store.list(status=status, community=community, overdue=overdue, limit=limit)
    found = store.directory.find_community(community) if community else None
    if community and (found is None or not staff.serves(found.name)):
        raise CommandError(f"您负责的是{'、'.join(staff.communities)}，看不了“{community}”的工单。")
    wanted = [found.name] if found else staff.communities
    tickets = [t for name in wanted for t in store.list(status=status, community=name, overdue=overdue, limit=limit)]
    return sorted(tickets, key=lambda t: (t.created_at, t.id), reverse=True)[:limit]


def _ticket_for(store: TicketStore, staff: Staff, ticket_id: Optional[str]) -> TicketView:
    if not ticket_id:
        raise CommandError("请写上工单号，比如 GD202611220007。")
    ticket = store.get(ticket_id)
    if ticket is None:
        raise CommandError(f"没有找到工单 {ticket_id}，请核对一下工单号。")
    if not staff.serves(ticket.community):
        raise CommandError(f"工单 {ticket.id} 不在您负责的社区（{'、'.join(staff.communities)}），请联系街道处理。")
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
        ids = tuple(parse_ticket_id(m.group(0)) for m in _TICKET_IDS.finditer(text))
        rest = _TICKET_IDS.sub(" ", text).strip(" \t:：,，。")
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
    return "utter_staff_commands", {}


def _list(store: TicketStore, staff: Staff, words: str) -> Reply:
    service, filters, named = store.directory.service, {}, []
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
    done = service.event_labels.get(_EVENT_OF.get(command, command), command)
    return "utter_staff_ticket_changed", {"ticket_id": changed.id, "done": done, "handler": changed.handler_name,
                                          "status": status}


def ticket_line(store: TicketStore, ticket: TicketView, now: datetime) -> str:
    """One ticket in a list: nothing personal, so it may be shown anywhere."""
    service = store.directory.service
    late = " ⚠逾期" if ticket.is_overdue(now) else ""
    return (f"{ticket.id}｜{service.categories[ticket.category].label}｜{place(ticket)}｜"
            f"{service.status_labels.get(ticket.status, ticket.status)}｜{_local(store, ticket.deadline)}前{late}")


def ticket_details(store: TicketStore, ticket: TicketView, private: bool) -> dict:
    """A ticket for staff: everything in a private chat; in a group no phone, room or raw words."""
    service = store.directory.service
    room = f" {ticket.room}室" if private and ticket.room else ""
    history = [f"{_local(store, e.at)} {service.event_labels.get(e.action, e.action)}"
               f"{'：' + (e.note if private else mask_text(e.note)) if e.note else ''}"
               for e in ticket.history[-HISTORY_SHOWN:]]
    return {"ticket_id": ticket.id, "category": service.categories[ticket.category].label,
            "status": service.status_labels.get(ticket.status, ticket.status), "place": place(ticket) + room,
            "description": ticket.description if private else mask_text(ticket.description),
            "phone": (ticket.phone or "未留") if private else "（群里不显示，请私聊查看）",
            "handler": ticket.handler_name, "tier": service.tiers.get(ticket.tier, ticket.tier),
            "deadline": _local(store, ticket.deadline), "history": "\n".join(history)}


def _local(store: TicketStore, moment: Optional[datetime]) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(store.zone)
    return f"{local.month}月{local.day}日{local:%H:%M}"


# -- rider volunteers --------------------------------------------------------------------------

def _volunteers(store: TicketStore, command: str, words: str, private: bool) -> Reply:
    engine, now, policy = store.engine, store.clock(), get_policy()
    if command == "approve":
        rider = volunteers.approve(engine, policy, _who(words), now)
        return "utter_staff_volunteer_approved", {"name": rider.name, "key": rider.key,
                                                  "areas": "、".join(rider.areas), "times": "、".join(rider.nudge_times)}
    if command == "pause":
        rider = volunteers.pause(engine, _who(words), now)
        return "utter_staff_volunteer_paused", {"name": rider.name, "key": rider.key}
    if command == "points":
        first = volunteers.parse_month(words, policy.zone, now)
        found = volunteers.points(engine, policy.zone, first)
        if not found:
            return "utter_staff_no_volunteers", {}
        return "utter_staff_points", {"month": f"{first.year}年{first.month}月",
                                      "lines": "\n".join(points_line(p) for p in found)}
    status = volunteer_status(words)
    riders = volunteers.list_volunteers(engine, status)
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
    found = next((code for code, label in volunteers.STATUS_LABELS.items()
                  if words in (code, label) or (len(words) >= 2 and words in label)), None)
    if found is None:
        raise CommandError(f"“{words[:20]}”看不懂，可以写：{'、'.join(volunteers.STATUS_LABELS.values())}。")
    return found


def volunteer_line(rider: volunteers.VolunteerView, private: bool) -> str:
    phone = f"｜{rider.phone}" if private else ""
    return (f"{rider.name}（{rider.platform or '-'}）｜{'、'.join(rider.areas)}｜{rider.status_label}"
            f"{phone}｜编号 {rider.key}")


def points_line(found: volunteers.Points) -> str:
    return (f"{found.rider.name}（{found.rider.platform or '-'}）：隐患上报已解决 {found.fixed_reports} 件，"
            f"平安巡查 {found.all_clears} 次")

