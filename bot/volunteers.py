"""Rider volunteers (骑手志愿者, 流动吹哨人): sign-up, approval, all-clear patrols and monthly points.

A rider signs up in chat (name, phone, platform, patrol area, nudge times, consent) and waits as
``pending`` until staff approve; approval makes them a volunteer and subscribes their nudge times
(bot/nudges.py), pausing ends both. Every answer is checked here, so the chat form and the command
line refuse the same things with the same words, and nothing is stored until all of it is valid.
Points are counts, per calendar month in local time: reports that led to a fix (the rider's own
tickets closed after a "solved" follow-up) and all-clear patrols.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Iterable, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot import nudges
from bot.db import session_scope
from bot.errors import UserError
from bot.models import Ticket, TicketEvent
from bot.nlu.address import extract
from bot.people import PatrolAllClear, Volunteer, person_id, set_volunteer_role
from bot.followups import send_each
from bot.scheduler import Context, Policy, Recipient
from bot.tickets import mask_phone, parse_phone

#: Delivery platforms riders name; any other answer is kept as written.
KNOWN_PLATFORMS = ("美团", "饿了么", "闪送", "顺丰", "京东", "达达", "UU跑腿", "滴滴", "货拉拉", "盒马", "叮咚")
#: Answers meaning "every community of the street".
WHOLE_STREET = ("全部", "都跑", "都行", "全街道", "整个街道", "全街", "所有社区", "哪都跑")
MAX_NAME, MAX_PLATFORM = 20, 16
_NAME_LEADS = re.compile(r"^(?:我叫|我是|叫我|名字是|名字叫|姓名[:：]?|称呼[:：]?)\s*")
_TIME_SPLIT = re.compile(r"[\s,，、;；和及/]+")
STATUS_LABELS = {"pending": "待审核", "active": "已通过", "paused": "已暂停"}


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


# -- checking answers ------------------------------------------------------------------------------

def parse_name(text: str) -> str:
    name = _NAME_LEADS.sub("", (text or "").strip()).strip(" ，,。.!！")
    if not name or len(name) > MAX_NAME or re.search(r"\d", name):
        raise VolunteerError(f"bad name {text!r}", "请告诉我怎么称呼您，比如“张师傅”或者您的名字（不带数字）。")
    return name


def parse_rider_phone(text: str) -> str:
    phone = parse_phone(text) or parse_phone("".join(re.findall(r"[\d+]", text or "")))
    if not phone:
        raise VolunteerError("bad phone", "这个手机号好像不对，请发11位手机号，比如 13812345678。")
    return phone


def parse_platform(text: str) -> str:
    text = (text or "").strip()
    known = next((p for p in KNOWN_PLATFORMS if p.lower() in text.lower()), None)
    if known:
        return known
    if not text or len(text) > MAX_PLATFORM or re.search(r"\d{5,}", text):
        raise VolunteerError(f"bad platform {text!r}", "您在哪个平台跑单？比如美团、饿了么、闪送，写平台名就行。")
    return text


def parse_areas(text: str, directory) -> tuple[str, ...]:
    """Communities named in the answer (aliases too), or all of them for "都跑"."""
    text = (text or "").strip()
    if any(word in text for word in WHOLE_STREET) or text == directory.street:
        return tuple(c.name for c in directory.communities)
    named = [span.value for span in extract(text, directory.community_aliases()) if span.entity == "community"]
    if not named:
        raise _unknown_area(text, directory)
    return tuple(dict.fromkeys(named))


def _unknown_area(named: str, directory) -> VolunteerError:
    return VolunteerError(f"unknown area {named!r}", f"没找到“{str(named)[:20]}”这个社区。我们街道有："
                          f"{'、'.join(c.name for c in directory.communities)}，都跑的话回“全部”。")


def parse_nudge_times(text: str, policy: Policy) -> list[str]:
    """"11:00 17:30", "7点半、18点" → sorted "HH:MM" (bot.nudges decides what is allowed)."""
    words = [w for w in _TIME_SPLIT.split((text or "").replace("点半", ":30")) if w]
    return nudges.parse_times(words, policy)


# -- signing up and approving ----------------------------------------------------------------------

def get(engine, channel: str, sender_id: str) -> Optional[VolunteerView]:
    with session_scope(engine) as session:
        row = session.get(Volunteer, person_id(channel, sender_id))
        return VolunteerView.of(row) if row else None


def sign_up(engine, policy: Policy, directory, channel: str, sender_id: str, *, name: str, phone: str,
            platform: str, areas: Iterable[str], times: Iterable[str], consent: bool,
            now: datetime) -> VolunteerView:
    """Records a sign-up as ``pending`` (a rider already approved stays approved, with the new
    details and times); every answer is checked first and a bad one stores nothing."""
    if not consent:
        raise VolunteerError("no consent", "没有您的同意，我们没法登记和联系您。想好了随时再说“报名志愿者”。")
    fields = {"name": parse_name(name), "phone": parse_rider_phone(phone), "platform": parse_platform(platform),
              "areas": list(dict.fromkeys(_community(area, directory) for area in areas)),
              "nudge_times": nudges.parse_times(times, policy)}
    if not fields["areas"]:
        raise VolunteerError("no area", "请告诉我您常跑哪个社区。")
    channel, sender_id = person_id(channel, sender_id)
    with session_scope(engine) as session:
        row = session.get(Volunteer, (channel, sender_id))
        if row is None:
            row = Volunteer(channel=channel, sender_id=sender_id, status="pending", created_at=now)
            session.add(row)
        for column, value in fields.items():
            setattr(row, column, value)
        row.consent, row.updated_at = True, now
        session.flush()
        view = VolunteerView.of(row)
    if view.status == "active":
        _subscribe(engine, policy, view, now)
    return view


def _community(named: str, directory) -> str:
    found = directory.find_community(named)
    if found is None:
        raise _unknown_area(named, directory)
    return found.name


def _subscribe(engine, policy: Policy, view: VolunteerView, now: datetime) -> None:
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
    _subscribe(engine, policy, view, now)
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


# -- telling riders what staff decided --------------------------------------------------------------

STATUS_INTENT = "EXTERNAL_volunteer_status"
_TOLD = ("active", "paused")


def sweep(context: Context, batch: int = 500) -> int:
    """Riders whose approval or pause they have not heard about yet: one job each, whoever changed
    the status (``linli volunteers``, a staff chat command). The job goes in before the mark."""
    query = (select(Volunteer.channel, Volunteer.sender_id, Volunteer.status)
             .where(Volunteer.status.in_(_TOLD), or_(Volunteer.told_status.is_(None),
                                                      Volunteer.told_status != Volunteer.status)).limit(batch))
    with session_scope(context.engine) as session:
        changed = session.execute(query).all()
    for channel, sender_id, status in changed:
        context.schedule.at(f"volunteer:{channel}:{sender_id}:{status}", "bot.volunteers:tell", context.clock(),
                            channel=channel, sender_id=sender_id, status=status)
        with session_scope(context.engine) as session:
            session.execute(update(Volunteer).where(Volunteer.channel == channel, Volunteer.sender_id == sender_id,
                                                    Volunteer.status == status).values(told_status=status))
    return len(changed)


def tell(context: Context, channel: str, sender_id: str, status: str) -> None:
    """Once per change: the key holds the moment of the change, so a later approval is told again."""
    view = get(context.engine, channel, sender_id)
    if view is None or view.status != status:
        return  # changed again since; that change has its own job
    send_each(context, f"volunteer:{view.key}:{status}:{view.updated_at.isoformat()}",
              [Recipient(channel, sender_id)], STATUS_INTENT, {"volunteer_status": status})


# -- patrols and points ----------------------------------------------------------------------------

def on_patrol(engine, channel: str, sender_id: str) -> bool:
    """Whose "all clear" counts: an approved rider, or anyone staff subscribed to duty nudges
    directly (`linli nudges subscribe`), whose nudge it answers."""
    rider = get(engine, channel, sender_id)
    if rider is not None:
        return rider.status == "active"
    subscription = nudges.get(engine, *person_id(channel, sender_id))
    return subscription is not None and subscription.active


def patrol_area(engine, directory, channel: str, sender_id: str, named: Optional[str] = None) -> str:
    """Where an all-clear is for: the community the rider named, else their nudges' area, else their
    one patrol community, else the whole street (its name)."""
    found = directory.find_community(named) if named else None
    if found:
        return found.name
    subscription = nudges.get(engine, *person_id(channel, sender_id))
    if subscription is not None and subscription.area:
        return subscription.area
    rider = get(engine, channel, sender_id)
    return rider.areas[0] if rider and len(rider.areas) == 1 else directory.street


def record_all_clear(engine, zone: ZoneInfo, channel: str, sender_id: str, area: str, now: datetime) -> bool:
    """One per rider, area and local day; False when today's was already recorded."""
    channel, sender_id = person_id(channel, sender_id)
    day = now.astimezone(zone).date().isoformat()
    try:
        with session_scope(engine) as session:
            if session.get(PatrolAllClear, (channel, sender_id, area, day)) is not None:
                return False
            session.add(PatrolAllClear(channel=channel, sender_id=sender_id, area=area, day=day, at=now))
    except IntegrityError:  # the same tap twice at the same moment
        return False
    return True


@dataclass(frozen=True)
class Points:
    rider: VolunteerView
    fixed_reports: int
    all_clears: int


def parse_month(text: Optional[str], zone: ZoneInfo, now: datetime) -> date:
    """The first day of "2026-11" / "2026年11月" / "11月" (this year); this month when empty."""
    text = (text or "").strip()
    today = now.astimezone(zone).date()
    if not text:
        return today.replace(day=1)
    match = re.fullmatch(r"(?:(\d{4})\s*[-年/.]\s*)?(\d{1,2})\s*月?", text)
    month = int(match.group(2)) if match else 0
    if not 1 <= month <= 12:
        raise VolunteerError(f"bad month {text!r}", "月份请写成“2026-11”或“11月”这样。")
    return date(int(match.group(1) or today.year), month, 1)


def month_bounds(first: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime.combine(first, time(), zone), datetime.combine(following, time(), zone)


def points(engine, zone: ZoneInfo, first: date, rider: Optional[VolunteerView] = None) -> list[Points]:
    """Each rider's month (or one rider's), most active first."""
    start, end = month_bounds(first, zone)
    riders = [rider] if rider else list_volunteers(engine)
    with session_scope(engine) as session:
        fixed = dict(((row[0], row[1]), row[2]) for row in session.execute(
            select(Ticket.reporter_channel, Ticket.reporter_id, func.count(func.distinct(Ticket.id)))
            .join(TicketEvent, and_(TicketEvent.ticket_id == Ticket.id, TicketEvent.action == "closed",
                                    TicketEvent.at >= start, TicketEvent.at < end))
            .group_by(Ticket.reporter_channel, Ticket.reporter_id)))
        clear = dict(((row[0], row[1]), row[2]) for row in session.execute(
            select(PatrolAllClear.channel, PatrolAllClear.sender_id, func.count())
            .where(PatrolAllClear.day >= start.date().isoformat(), PatrolAllClear.day < end.date().isoformat())
            .group_by(PatrolAllClear.channel, PatrolAllClear.sender_id)))
    found = [Points(r, fixed.get((r.channel, r.sender_id), 0), clear.get((r.channel, r.sender_id), 0)) for r in riders]
    return sorted(found, key=lambda p: (-(p.fixed_reports + p.all_clears), p.rider.created_at))
