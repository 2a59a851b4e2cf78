"""Reading a rider's sign-up answers and recording the sign-up."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Iterable

from bot.config.policy import Policy
from bot.config.service import wording
from bot.core.db import session_scope
from bot.core.text import parse_phone
from bot.nlu.address import extract
from bot.people.roles import person_id
from bot.volunteers import nudges
from bot.volunteers.models import Volunteer
from bot.volunteers.records import MAX_NAME, MAX_PLATFORM, VolunteerError, VolunteerView, subscribe_nudges

#: Delivery platforms riders name; any other answer is kept as written.
KNOWN_PLATFORMS = wording("words", "delivery_platforms")


#: Answers meaning "every community of the street".
WHOLE_STREET = wording("words", "whole_street")


_NAME_LEADS = re.compile(r"^(?:我叫|我是|叫我|名字是|名字叫|姓名[:：]?|称呼[:：]?)\s*")
_TIME_SPLIT = re.compile(r"[\s,，、;；和及/]+")


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
        subscribe_nudges(engine, policy, view, now)
    return view


def _community(named: str, directory) -> str:
    found = directory.find_community(named)
    if found is None:
        raise _unknown_area(named, directory)
    return found.name
