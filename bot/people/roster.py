"""The staff roster: the staff file mirrored into the database, and who may act as staff."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from sqlalchemy import select
from bot.core.db import get_engine, session_scope
from typing import Optional
from bot.config.staff import StaffFileError, file_stamp, staff_file
from bot.people.roles import role_of, staff_communities
from bot.config.staff import StaffMember, member_of, save_staff, load_staff
from bot.people.models import Person, Volunteer
from bot.core.clock import utcnow
from bot.people.roles import person_row

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
