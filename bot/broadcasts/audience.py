"""Who a broadcast reaches, per channel, and how its preview and outcome read."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional

import yaml
from sqlalchemy import and_, select

from bot.broadcasts.compose import Audience, Draft, check_image, validate
from bot.broadcasts.errors import BroadcastError
from bot.broadcasts.models import VOLUNTEERS
from bot.config.broadcasts import BroadcastConfig, get_config
from bot.config.directory import Directory
from bot.core.db import session_scope
from bot.core.settings import credentials_path, get_settings
from bot.people.models import Person
from bot.volunteers.models import Volunteer


@dataclass(frozen=True)
class Preview:
    audience: Audience
    to_send: dict  # channel → people
    skipped: dict  # reason → people
    send_at: Optional[datetime]
    has_image: bool = False
    image_channels: tuple = ()  # channels among the audience's that get the image

    @property
    def total(self) -> int:
        return sum(self.to_send.values())


# -- channels --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reach:
    """Which channels the Rasa server was started with (its credentials file), and WeChat Work's
    group robots by name: a person on any other channel cannot be reached."""

    channels: frozenset
    robots: frozenset = frozenset()

    @classmethod
    def from_credentials(cls, path: Optional[Path] = None, config: Optional[BroadcastConfig] = None) -> "Reach":
        config = config or get_config()
        raw = yaml.safe_load(Path(path or credentials_path(get_settings())).read_text(encoding="utf-8")) or {}
        by_class = {info.input_class: name for name, info in config.channels.items()}
        channels, robots = set(), set()
        for key, section in raw.items():
            name = key if key in config.channels else by_class.get(key)
            if name:
                channels.add(name)
                if name == "wecom":
                    robots |= set(((section or {}).get("robots") or {}).keys())
        return cls(frozenset(channels), frozenset(robots))

    def reaches(self, channel: str, sender_id: str) -> bool:
        if channel not in self.channels:
            return False
        if channel == "wecom" and sender_id.startswith("robot:"):
            return sender_id[len("robot:"):] in self.robots
        return True


# -- the audience ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    channel: str
    sender_id: str
    skip: Optional[str] = None  # why this person gets nothing; None: send


def resolve(session, audience: Audience, reach: Reach) -> list[Candidate]:
    """Everyone the audience names, each with the reason they are skipped, if any."""
    rows = _volunteers(session, audience) if audience.kind == VOLUNTEERS else _subscribers(session, audience)
    return [Candidate(channel, sender_id, _skip(audience, reach, channel, sender_id, gate, topics))
            for channel, sender_id, gate, topics in rows]


def _subscribers(session, audience: Audience) -> Iterable[tuple]:
    query = select(Person.channel, Person.sender_id, Person.subscribed, Person.topics)
    if audience.community:
        query = query.where(Person.community == audience.community)
    if audience.building:
        query = query.where(Person.building == audience.building)
    for channel, sender_id, subscribed, topics in session.execute(query):
        yield channel, sender_id, "unsubscribed" if not subscribed else None, topics


def _volunteers(session, audience: Audience) -> Iterable[tuple]:
    query = (select(Volunteer.channel, Volunteer.sender_id, Volunteer.status, Volunteer.areas, Person.topics)
             .outerjoin(Person, and_(Person.channel == Volunteer.channel, Person.sender_id == Volunteer.sender_id)))
    for channel, sender_id, status, areas, topics in session.execute(query):
        if audience.community and audience.community not in (areas or ()):
            continue
        yield channel, sender_id, "volunteer_inactive" if status != "active" else None, topics


def _skip(audience: Audience, reach: Reach, channel: str, sender_id: str, gate: Optional[str],
          topics) -> Optional[str]:
    if gate:
        return gate
    if audience.topic and topics and audience.topic not in topics:
        return "topic_not_chosen"
    if not reach.reaches(channel, sender_id):
        return "channel_unavailable"
    return None


def preview(engine, draft: Draft, directory: Directory, reach: Reach, now: datetime, serves: tuple = (),
            config: Optional[BroadcastConfig] = None) -> Preview:
    """Who would get it, per channel, and who would not, per reason; refuses an audience of nobody,
    and one outside ``serves`` (the communities a community's staff member serves; empty: the street)."""
    config = config or get_config()
    draft = validate(draft, directory, now, config)
    if serves and draft.audience.community not in serves:
        raise BroadcastError(f"您负责的是{'、'.join(serves)}，只能给{'、'.join(serves)}发通知，"
                             f"请在命令里写明社区，例如“/通知 {serves[0]} …”。")
    if draft.image_path:
        check_image(draft.image_path, config)
    with session_scope(engine) as session:
        candidates = resolve(session, draft.audience, reach)
    to_send = Counter(c.channel for c in candidates if c.skip is None)
    skipped = Counter(c.skip for c in candidates if c.skip)
    if not to_send:
        why = "、".join(f"{config.reason_label(r)} {n} 人" for r, n in skipped.most_common())
        raise BroadcastError(f"{draft.audience.label(config)}目前没有人能收到这条通知"
                             f"{f'（{why}）' if why else ''}，没有发送。")
    has_image = bool(draft.image_path or draft.image_id)
    image_channels = tuple(sorted(c for c in to_send if has_image and config.channels[c].images
                                  and draft.image_channel in (None, c)))
    return Preview(draft.audience, dict(to_send), dict(skipped), draft.send_at, has_image, image_channels)


def describe_preview(preview: Preview, zone: str, config: Optional[BroadcastConfig] = None) -> list[str]:
    """The preview as staff read it, in chat and on the command line."""
    from bot.core.text import local_time

    config = config or get_config()
    lines = [f"发给：{preview.audience.label(config)}",
             f"共 {preview.total} 人：{_per_channel(preview.to_send, config)}"]
    if preview.skipped:
        lines.append(f"不发 {sum(preview.skipped.values())} 人：{_per_reason(preview.skipped, config)}")
    lines.append(f"时间：{local_time(preview.send_at, zone) if preview.send_at else '确认后马上发送'}")
    if preview.has_image:
        lines.append(f"图片：发给{_channel_names(preview.image_channels, config)}的人，其余只收文字"
                     if preview.image_channels else "图片：这些渠道发不了图片，只发文字")
    return lines


def describe_outcome(figures: dict, config: Optional[BroadcastConfig] = None) -> list[str]:
    """A delivery report's figures (:func:`report`) as staff read them."""
    config = config or get_config()
    lines = []
    for status, title in (("sent", "送达"), ("failed", "失败"), ("skipped", "未发送"), ("pending", "待发送")):
        mine = {key: n for key, n in figures.items() if key[0] == status}
        if not mine:
            continue
        if status in ("sent", "pending"):
            detail = _per_channel(_sum_by(mine, 2), config)
        else:
            detail = _per_reason(_sum_by(mine, 1), config)
        lines.append(f"{title} {sum(mine.values())} 人：{detail}")
    return lines or ["没有收件人。"]


def _sum_by(figures: dict, position: int) -> dict:
    totals: Counter = Counter()
    for key, count in figures.items():
        totals[key[position]] += count
    return dict(totals)


def _per_channel(counts: dict, config: BroadcastConfig) -> str:
    return "，".join(f"{_channel_names((c,), config)} {n}" for c, n in sorted(counts.items(), key=lambda p: -p[1]))


def _per_reason(counts: dict, config: BroadcastConfig) -> str:
    return "，".join(f"{config.reason_label(r)} {n}" for r, n in sorted(counts.items(), key=lambda p: -p[1]))


def _channel_names(channels: Iterable[str], config: BroadcastConfig) -> str:
    return "、".join(config.channels[c].label if c in config.channels else c for c in channels)
