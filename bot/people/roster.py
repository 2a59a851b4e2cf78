"""The staff roster: the staff file mirrored into the database, and who may act as staff."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from sqlalchemy import select

from bot.config.staff import (
    StaffFile,
    StaffFileError,
    StaffMember,
    file_stamp,
    load_staff,
    member_of,
    save_staff,
    staff_file,
)
from bot.core.clock import utcnow
from bot.core.db import get_engine, session_scope
from bot.people.models import Person, Volunteer
from bot.people.roles import person_id, person_row, role_of, staff_communities

log = logging.getLogger(__name__)


def add_staff(member: StaffMember, engine=None, path: Path | None = None) -> StaffMember:
    """Adds (or updates) a staff member in the file and the database together."""
    from bot.config.directory import get_directory

    path = Path(path or staff_file())
    member = member_of(member.as_yaml(), get_directory())
    members = [m for m in load_staff(path) if m.key != member.key] + [member]
    save_staff(members, path)
    sync_staff(engine, path)
    return member


def remove_staff(channel: str, sender_id: str, engine=None, path: Path | None = None) -> bool:
    """Takes a staff member off the roster and their staff role away; False when not listed."""
    path = Path(path or staff_file())
    members = load_staff(path)
    kept = [m for m in members if m.key != (channel, sender_id)]
    if len(kept) != len(members):
        save_staff(kept, path)
    sync_staff(engine, path)
    return len(kept) != len(members)


def sync_staff(engine=None, path: Path | None = None) -> int:
    """Makes the database's staff roles what the file says: listed people become staff with their
    communities; staff no longer listed go back to volunteer (an active rider) or resident."""
    members = {m.key: m for m in load_staff(path)}
    with session_scope(engine or get_engine()) as session:
        current = session.execute(select(Person).where(Person.role == "staff")).scalars().all()
        for person in current:
            if (person.channel, person.sender_id) not in members:
                rider = session.get(Volunteer, (person.channel, person.sender_id))
                person.role = "volunteer" if rider is not None and rider.status == "active" else "resident"
                person.staff_communities, person.updated_at = [], utcnow()
        for key, member in members.items():
            person = person_row(session, *key)
            person.role, person.staff_communities, person.updated_at = "staff", list(member.communities), utcnow()
    return len(members)


@dataclass(frozen=True)
class Staff:
    """A staff member, checked just now: who acts (for the history) and where."""

    channel: str
    sender_id: str
    communities: tuple[str, ...] = ()  # empty: the whole street
    handlers: tuple[str, ...] = ()  # a handler's duty account (staff file ``handlers``): its tickets only

    @property
    def actor(self) -> str:
        return f"staff:{self.channel}:{self.sender_id}"

    def serves(self, community: Optional[str]) -> bool:
        return not self.communities or community in self.communities

    def may_see(self, ticket) -> bool:
        """A handler's account sees the tickets dispatched to it; other staff their communities'."""
        if self.handlers:
            return ticket.handler_name in self.handlers
        return self.serves(ticket.community)


_synced: dict[tuple[str, str], tuple[int, int]] = {}


def authorize(channel: str, sender_id: str, engine) -> Optional[Staff]:
    """The sender as staff, or None: asked of the database on every call, after catching up with
    a hand-edited staff file."""
    _sync_if_changed(engine)
    if role_of(channel, sender_id, engine) != "staff":
        return None
    return Staff(channel, sender_id, staff_communities(channel, sender_id, engine), _handlers_of(channel, sender_id))


def authorize_recipient(channel: Optional[str], sender_id: str, engine) -> Optional[Staff]:
    """:func:`authorize` for the conversation a proactive message landed in; ``channel`` None (no
    one ever wrote there) means the staff member with that account id on any channel."""
    if channel is not None:
        return authorize(channel, sender_id, engine)
    listed = (m.channel for m in members() if person_id(m.channel, sender_id) == m.key)
    return next(filter(None, (authorize(listed_channel, sender_id, engine) for listed_channel in listed)), None)


_files: dict[str, StaffFile] = {}


def members() -> tuple[StaffMember, ...]:
    """The staff file as it is now: one watcher per file for the whole process (read again when it
    changes; a broken edit keeps the last good roster, see :class:`bot.config.staff.StaffFile`)."""
    path = str(staff_file())
    if path not in _files:
        try:
            _files[path] = StaffFile(Path(path))
        except (OSError, StaffFileError) as error:
            log.error("staff file %s not readable: %s", path, error)
            return ()
    return _files[path].members()


def _handlers_of(channel: str, sender_id: str) -> tuple[str, ...]:
    """The handlers a staff member is the duty account of."""
    key = person_id(channel, sender_id)
    return next((m.handlers for m in members() if m.key == key), ())


def _sync_if_changed(engine) -> None:
    """A hand edit of the staff file reaches the database's roles at the next staff command."""
    path = staff_file()
    stamp = file_stamp(path)
    key = (str(engine.url), str(path))
    if stamp is None or _synced.get(key) == stamp:
        return
    try:
        sync_staff(engine, path)
    except StaffFileError as error:
        log.error("staff file %s not applied: %s", path, error)
    _synced[key] = stamp
