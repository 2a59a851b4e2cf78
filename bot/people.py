"""People Linli talks to, keyed by channel (the Rasa input channel name, which is also the output
channel that reaches them) + sender id: role, profile (community, building), notice subscription
and topics; rider volunteers' sign-up details and their all-clear patrols in their own tables.

Roles live in the database so every process asks one place (``role_of``). Staff are configured in
the staff file (``LINLI_STAFF_FILE``, default ``bot/data/staff.yml``): it is the roster people edit,
and :func:`sync_staff` mirrors it into the database; ``linli staff add|remove`` change both at once.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import yaml
from sqlalchemy import JSON, Boolean, Column, String, Text, select

from bot.db import Base, UtcDateTime, get_engine, session_scope
from bot.settings import PACKAGE_DATA, _env

ROLES = ("resident", "volunteer", "staff")
VOLUNTEER_STATUSES = ("pending", "active", "paused")
#: A member of a Telegram group talks in a conversation of their own, "<group id>:<user id>".
_GROUP_MEMBER = re.compile(r"^-\d+:(\d+)$")


class Person(Base):
    __tablename__ = "people"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    role = Column(String(16), nullable=False, default="resident")  # resident | volunteer | staff
    community = Column(String(64), index=True)  # profile: asked once, offered again next time
    building = Column(String(16))
    subscribed = Column(Boolean, nullable=False, default=False)
    topics = Column(JSON, nullable=False, default=list)  # notice topics chosen; empty = all
    staff_communities = Column(JSON, nullable=False, default=list)  # staff: communities served; empty = street
    updated_at = Column(UtcDateTime, nullable=False)


class Volunteer(Base):
    """A rider volunteer (骑手志愿者): sign-up answers and whether staff let them patrol."""

    __tablename__ = "volunteers"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    name = Column(String(64), nullable=False)
    phone = Column(String(16), nullable=False)
    platform = Column(String(32))  # the delivery platform they ride for
    areas = Column(JSON, nullable=False, default=list)  # patrol communities (directory names)
    nudge_times = Column(JSON, nullable=False, default=list)  # chosen nudge times, "HH:MM"; subscribed on approval
    status = Column(String(16), nullable=False, default="pending", index=True)  # pending | active | paused
    told_status = Column(String(16))  # the status the rider was last told about (approved, paused)
    consent = Column(Boolean, nullable=False, default=False)
    note = Column(Text)
    created_at = Column(UtcDateTime, nullable=False)
    updated_at = Column(UtcDateTime, nullable=False)


class PatrolAllClear(Base):
    """One "all clear" per rider, area and local day: the key makes a second tap change nothing."""

    __tablename__ = "patrol_all_clears"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    area = Column(String(64), primary_key=True)  # a community, or the street's name for the whole street
    day = Column(String(10), primary_key=True)  # local date, YYYY-MM-DD
    at = Column(UtcDateTime, nullable=False)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _person(session, channel: str, sender_id: str) -> Person:
    person = session.get(Person, (channel, sender_id))
    if person is None:
        person = Person(channel=channel, sender_id=sender_id, role="resident", subscribed=False, topics=[],
                        staff_communities=[], updated_at=_now())
        session.add(person)
    return person


def set_subscription(channel: str, sender_id: str, subscribed: bool, engine=None) -> bool:
    """Records the choice; returns whether it changed anything (to word the reply honestly)."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        if person is None:
            person = _person(session, channel, sender_id)
            person.subscribed = not subscribed
        changed = person.subscribed != subscribed
        person.subscribed, person.updated_at = subscribed, _now()
        return changed


def is_subscribed(channel: str, sender_id: str, engine=None) -> bool:
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        return bool(person and person.subscribed)


def person_id(channel: str, sender_id: str) -> tuple[str, str]:
    """Whose role a conversation carries: a Telegram group member is the same person as in private."""
    member = _GROUP_MEMBER.match(sender_id or "")
    return channel, member.group(1) if member else sender_id


def role_of(channel: str, sender_id: str, engine=None) -> str:
    """``resident``, ``volunteer`` or ``staff``: asked afresh on every staff command, never cached,
    so a removed staff member loses access at once."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, person_id(channel, sender_id))
        return person.role if person else "resident"


def staff_communities(channel: str, sender_id: str, engine=None) -> tuple[str, ...]:
    """The communities a staff member serves; empty for the whole street (and for non-staff)."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, person_id(channel, sender_id))
        return tuple(person.staff_communities or ()) if person and person.role == "staff" else ()


def set_volunteer_role(session, channel: str, sender_id: str, active: bool) -> None:
    """An approved rider becomes a volunteer, a paused one a resident again; staff stay staff."""
    person = _person(session, channel, sender_id)
    if person.role != "staff":
        person.role = "volunteer" if active else "resident"
        person.updated_at = _now()


# -- the staff roster ------------------------------------------------------------------------------

class StaffFileError(ValueError):
    """The staff file or a change to it makes no sense; ``user_message`` says why, in Chinese."""

    def __init__(self, detail: str, user_message: str | None = None) -> None:
        super().__init__(detail)
        self.user_message = user_message or detail


@dataclass(frozen=True)
class StaffMember:
    """One entry of the staff file (its comments document the fields)."""

    channel: str
    id: str
    name: str = ""
    communities: tuple[str, ...] = ()
    handlers: tuple[str, ...] = ()
    digest: bool = False
    notices: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return self.channel, self.id

    def as_yaml(self) -> dict:
        entry = {"channel": self.channel, "id": self.id}
        entry.update({k: v for k, v in (("name", self.name), ("communities", list(self.communities)),
                                        ("handlers", list(self.handlers))) if v})
        if self.digest:
            entry["digest"] = True
        if not self.notices:
            entry["notices"] = False
        return entry


def staff_file() -> Path:
    return Path(_env("STAFF_FILE", str(PACKAGE_DATA / "staff.yml")))


def _member(entry, directory) -> StaffMember:
    if not isinstance(entry, dict) or not entry.get("channel") or not entry.get("id"):
        raise StaffFileError(f"staff entry without channel and id: {entry!r}", "工作人员要写明渠道和账号。")
    communities = []
    for named in entry.get("communities") or ():
        found = directory.find_community(str(named))
        if found is None:
            raise StaffFileError(f"unknown community {named!r} for {entry['channel']}:{entry['id']}",
                                 f"没有“{named}”这个社区，可选：{'、'.join(c.name for c in directory.communities)}。")
        communities.append(found.name)
    return StaffMember(str(entry["channel"]), str(entry["id"]), str(entry.get("name") or ""),
                       tuple(dict.fromkeys(communities)), tuple(str(h) for h in entry.get("handlers") or ()),
                       bool(entry.get("digest", False)), bool(entry.get("notices", True)))


def load_staff(path: Path | None = None, directory=None) -> tuple[StaffMember, ...]:
    """The roster, communities as the directory names them; a broken file raises with the reason."""
    from bot.directory import get_directory

    path = Path(path or staff_file())
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    members = tuple(_member(entry, directory or get_directory()) for entry in raw.get("staff") or ())
    keys = [m.key for m in members]
    duplicated = {k for k in keys if keys.count(k) > 1}
    if duplicated:
        raise StaffFileError(f"{path}: listed twice: {sorted(duplicated)}")
    return members


def _save_staff(members: Iterable[StaffMember], path: Path) -> None:
    """Rewrites the roster under the file's own header comment, atomically (readers never see half)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    header = "".join(line for line in text.splitlines(keepends=True)[:_header_length(text)])
    body = "staff:\n" + "".join(f"- {yaml.safe_dump(m.as_yaml(), allow_unicode=True, sort_keys=False, default_flow_style=True, width=1000).strip()}\n"
                                 for m in members)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".staff-", suffix=".yml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(header + body)
    os.replace(temporary, path)


def _header_length(text: str) -> int:
    lines = text.splitlines()
    return next((i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")), len(lines))


def add_staff(member: StaffMember, engine=None, path: Path | None = None) -> StaffMember:
    """Adds (or updates) a staff member in the file and the database together."""
    from bot.directory import get_directory

    path = Path(path or staff_file())
    member = _member(member.as_yaml(), get_directory())
    members = [m for m in load_staff(path) if m.key != member.key] + [member]
    _save_staff(members, path)
    sync_staff(engine, path)
    return member


def remove_staff(channel: str, sender_id: str, engine=None, path: Path | None = None) -> bool:
    """Takes a staff member off the roster and their staff role away; False when not listed."""
    path = Path(path or staff_file())
    members = load_staff(path)
    kept = [m for m in members if m.key != (channel, sender_id)]
    if len(kept) != len(members):
        _save_staff(kept, path)
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
                person.staff_communities, person.updated_at = [], _now()
        for key, member in members.items():
            person = _person(session, *key)
            person.role, person.staff_communities, person.updated_at = "staff", list(member.communities), _now()
    return len(members)

