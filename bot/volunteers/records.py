"""Rider volunteers' records: looking them up, approving and pausing them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select

from bot.config.policy import Policy
from bot.config.service import wording
from bot.core.db import get_engine, session_scope
from bot.core.errors import UserError
from bot.core.text import parse_phone
from bot.people.roles import person_id, set_volunteer_role
from bot.privacy.masks import mask_phone
from bot.volunteers import nudges
from bot.volunteers.models import Volunteer


def volunteer_phone(channel: str, sender_id: str, engine=None) -> Optional[str]:
    """The phone a rider gave when signing up, or None if they have no volunteer record."""
    with session_scope(engine or get_engine()) as session:
        volunteer = session.get(Volunteer, (channel, sender_id))
        return volunteer.phone if volunteer and volunteer.phone else None


MAX_NAME, MAX_PLATFORM = 20, 16


STATUS_LABELS = dict(wording("labels", "volunteer_statuses"))


class VolunteerError(UserError):
    """A sign-up answer or a request about riders that cannot be taken."""


@dataclass(frozen=True)
class VolunteerView:
    channel: str
    sender_id: str
    name: str
    phone: str
    platform: Optional[str]
    areas: tuple[str, ...]
    nudge_times: tuple[str, ...]
    status: str
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        """How staff name a rider in commands: their channel and conversation id."""
        return f"{self.channel}:{self.sender_id}"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @classmethod
    def of(cls, row: Volunteer) -> "VolunteerView":
        return cls(row.channel, row.sender_id, row.name, row.phone, row.platform, tuple(row.areas or ()),
                   tuple(row.nudge_times or ()), row.status, row.created_at, row.updated_at)


# -- signing up and approving ----------------------------------------------------------------------

def get(engine, channel: str, sender_id: str) -> Optional[VolunteerView]:
    with session_scope(engine) as session:
        row = session.get(Volunteer, person_id(channel, sender_id))
        return VolunteerView.of(row) if row else None


def subscribe_nudges(engine, policy: Policy, view: VolunteerView, now: datetime) -> None:
    """One patrol community is the nudges' area; several mean the whole street."""
    area = view.areas[0] if len(view.areas) == 1 else None
    nudges.subscribe(engine, policy, view.channel, view.sender_id, now, area, view.nudge_times)


def find(engine, who: str) -> VolunteerView:
    """A rider as staff name them: "channel:id", their phone number, or their name if it is unique."""
    who = (who or "").strip()
    with session_scope(engine) as session:
        channel, _, sender_id = who.partition(":")
        row = session.get(Volunteer, (channel, sender_id)) if sender_id else None
        if row is not None:
            return VolunteerView.of(row)
        phone = parse_phone(who)
        query = select(Volunteer).where(Volunteer.phone == phone) if phone else select(Volunteer).where(Volunteer.name == who)
        rows = session.execute(query).scalars().all()
    if len(rows) == 1:
        return VolunteerView.of(rows[0])
    if not rows:
        raise VolunteerError(f"no volunteer {who!r}", f"没找到志愿者“{who[:20]}”：请写名单里的编号（如 wechat:abc）、手机号或姓名。")
    raise VolunteerError(f"{who!r} is ambiguous", f"叫“{who[:20]}”的志愿者不止一位，请用名单里的编号。")


def list_volunteers(engine, status: str | None = None) -> list[VolunteerView]:
    query = select(Volunteer).order_by(Volunteer.created_at, Volunteer.sender_id)
    if status:
        if status not in STATUS_LABELS:
            raise VolunteerError(f"unknown status {status}", "状态只有：pending（待审核）、active（已通过）、paused（已暂停）。")
        query = query.where(Volunteer.status == status)
    with session_scope(engine) as session:
        return [VolunteerView.of(row) for row in session.execute(query).scalars()]


def approve(engine, policy: Policy, who: str, now: datetime) -> VolunteerView:
    """Lets a rider patrol: role volunteer, nudges at their chosen times."""
    view = _set_status(engine, find(engine, who), "active", now)
    subscribe_nudges(engine, policy, view, now)
    return view


def pause(engine, who: str, now: datetime) -> VolunteerView:
    """Stops a rider's patrols (and nudges) until staff approve them again."""
    view = _set_status(engine, find(engine, who), "paused", now)
    subscription = nudges.get(engine, view.channel, view.sender_id)
    if subscription is not None and subscription.active:
        nudges.unsubscribe(engine, view.channel, view.sender_id, now)
    return view


def _set_status(engine, view: VolunteerView, status: str, now: datetime) -> VolunteerView:
    with session_scope(engine) as session:
        row = session.get(Volunteer, (view.channel, view.sender_id))
        row.status, row.updated_at = status, now
        set_volunteer_role(session, view.channel, view.sender_id, status == "active")
        session.flush()
        return VolunteerView.of(row)
