"""What staff do to tickets, one implementation for chat commands, the CLI and the workbench."""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Optional

from bot.config.directory import Directory
from bot.core.errors import PlainUserError
from bot.core.text import local_time
from bot.people.roster import Staff
from bot.privacy.masks import mask_text
from bot.tickets.store import TicketStore
from bot.tickets.views import TicketView, place

# -- tickets -----------------------------------------------------------------------------------

TICKET_CHANGES = ("start", "resolve", "reopen", "assign", "note", "merge")


#: The history action each change records, whose label (service.yml) tells staff what was done.
EVENT_OF = {"start": "in_progress", "resolve": "resolved", "reopen": "reopened", "assign": "assigned"}


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
    from bot.scheduling.scheduler import Scheduler
    from bot.workflows import planning

    scheduler = Scheduler(engine=store.engine).open()
    try:
        return planning.plan(scheduler.planning_context(store), ticket)
    finally:
        scheduler.stop(release=False)


def list_tickets(store: TicketStore, status: str | None = None, community: str | None = None,
                 overdue: bool | None = None, limit: int = 50, staff: Staff | None = None) -> list[TicketView]:
    """Newest first; a community staff member sees their communities' tickets only, a handler's
    duty account that handler's."""
    if staff is not None and staff.handlers:
        return [t for t in store.list(status=status, community=community, overdue=overdue, limit=limit,
                                      handlers=staff.handlers) if staff.may_see(t)]
    if staff is None or not staff.communities:
        return store.list(status=status, community=community, overdue=overdue, limit=limit)
    found = store.directory.find_community(community) if community else None
    if community and (found is None or not staff.serves(found.name)):
        raise CommandError(f"您负责的是{'、'.join(staff.communities)}，看不了“{community}”的工单。")
    wanted = [found.name] if found else staff.communities
    tickets = [t for name in wanted for t in store.list(status=status, community=name, overdue=overdue, limit=limit)]
    return sorted(tickets, key=lambda t: (t.created_at, t.id), reverse=True)[:limit]


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
    return local_time(moment, store.zone)


HISTORY_SHOWN = 5



class CommandError(PlainUserError):
    """A staff command that cannot be carried out as written."""
