"""Broadcasts: a staff notice (text, optionally an image) to an audience, now or at a set time.

An audience is everyone subscribed to notices (optionally one community or one building) or the
rider volunteers (optionally those patrolling one community), optionally narrowed to a topic.
Residents who did not subscribe, or chose other topics, are never messaged; volunteers get
volunteer broadcasts while they are active, whatever their notice subscription.

A broadcast goes ``draft`` (a chat preview awaiting confirmation) → ``scheduled`` → ``sending`` →
``done``, or ``cancelled`` from any of the first three. When sending starts, the audience is
resolved once into one row per person (the stored delivery report): ``pending`` rows are sent,
``skipped`` rows say why not. Each message is an ``EXTERNAL_broadcast`` intent triggered in the
person's conversation on their channel, so the channel's rate limits and platform rules apply.

Sending is at most once per person, across processes and restarts: a row is claimed
(``pending`` → ``sending``) in the database before its request goes out, and only while the
broadcast is still ``sending`` — so a cancel stops every runner at its next claim. A runner stamps
a heartbeat; if it dies, the scheduler's watch job takes the broadcast over and marks the rows
that were in flight ``failed: interrupted`` rather than sending them twice. Requests that never
reached Rasa (connection refused) are released and tried again.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time as systime
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Callable, Iterable, Optional
from zoneinfo import ZoneInfo

import httpx
import yaml
from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, and_, exists, func, insert, select, update

from bot.db import Base, UtcDateTime, session_scope
from bot.delivery import trigger_intent_url
from bot.directory import Directory
from bot.errors import PlainUserError
from bot.nlu.address import bare_number, chinese_number
from bot.people import Person, Volunteer
from bot.scheduler import Recipient, RetryLater
from bot.settings import PACKAGE_DATA, get_settings

log = logging.getLogger(__name__)

SUBSCRIBERS, VOLUNTEERS = "subscribers", "volunteers"
OPEN = ("draft", "scheduled", "sending")
DELIVER_INTENT, REPORT_INTENT = "EXTERNAL_broadcast", "EXTERNAL_broadcast_report"

#: Staff chat commands: "/通知 望园社区 明天9点到12点停水" and "/取消通知 12".


# -- configuration -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelInfo:
    name: str
    label: str
    input_class: str
    images: bool
    concurrency: int


@dataclass(frozen=True)
class BroadcastConfig:
    """bot/data/broadcasts.yml (see its comments)."""

    topics: dict  # code → label
    topic_words: dict  # word → code
    text_max_chars: int
    image_max_bytes: int
    image_formats: tuple
    image_max_side: int
    channels: dict  # name → ChannelInfo
    heartbeat_seconds: float
    stale_after: timedelta
    connect_retries: int
    request_timeout: float
    draft_valid: timedelta
    reasons: dict
    failure_words: dict

    @classmethod
    def load(cls, path: Path) -> "BroadcastConfig":
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        topics = {code: spec["label"] for code, spec in raw["topics"].items()}
        words = {word: code for code, spec in raw["topics"].items() for word in (spec["label"], *spec["words"])}
        channels = {name: ChannelInfo(name, spec["label"], spec["class"], bool(spec.get("images")),
                                      int(spec.get("concurrency", 4)))
                    for name, spec in raw["channels"].items()}
        image = raw["image"]
        return cls(topics=topics, topic_words=words, text_max_chars=int(raw["text_max_chars"]),
                   image_max_bytes=int(image["max_bytes"]), image_formats=tuple(image["formats"]),
                   image_max_side=int(image["max_side"]), channels=channels,
                   heartbeat_seconds=float(raw["heartbeat_seconds"]),
                   stale_after=timedelta(seconds=float(raw["stale_after_seconds"])),
                   connect_retries=int(raw["connect_retries"]),
                   request_timeout=float(raw["request_timeout_seconds"]),
                   draft_valid=timedelta(minutes=float(raw["draft_valid_minutes"])),
                   reasons=dict(raw["reasons"]), failure_words=dict(raw["failure_words"]))

    def topic_code(self, word: str) -> Optional[str]:
        word = word.strip()
        return word if word in self.topics else self.topic_words.get(word)

    def reason_label(self, reason: Optional[str]) -> str:
        return self.reasons.get(reason or "", reason or "")

    def failure_reason(self, error: str) -> str:
        for reason, words in self.failure_words.items():
            if any(str(word) in error for word in words):
                return reason
        return "error"


@lru_cache(maxsize=2)
def _config(path: str) -> BroadcastConfig:
    return BroadcastConfig.load(Path(path))


def get_config() -> BroadcastConfig:
    return _config(str(PACKAGE_DATA / "broadcasts.yml"))


# -- errors --------------------------------------------------------------------------------------

class BroadcastError(PlainUserError):
    """A broadcast that cannot be made or changed."""


# -- tables --------------------------------------------------------------------------------------

class Broadcast(Base):
    __tablename__ = "broadcasts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    text = Column(Text, nullable=False)
    image = Column(String(512))  # a stored file's absolute path, or a platform file id
    image_channel = Column(String(32))  # the only channel a platform file id works on; None = every image channel
    audience = Column(String(16), nullable=False)  # subscribers | volunteers
    community = Column(String(64))  # subscribers: their community; volunteers: their patrol area
    building = Column(String(16))
    topic = Column(String(16))
    author_channel = Column(String(32), nullable=False)  # "cli" for the command line
    author_id = Column(String(128), nullable=False)
    status = Column(String(16), nullable=False, index=True)  # draft | scheduled | sending | done | cancelled
    send_at = Column(UtcDateTime)  # None: as soon as confirmed
    created_at = Column(UtcDateTime, nullable=False)
    confirmed_at = Column(UtcDateTime)
    started_at = Column(UtcDateTime)
    finished_at = Column(UtcDateTime)
    cancelled_at = Column(UtcDateTime)
    cancelled_by = Column(String(200))
    runner = Column(String(64))
    heartbeat_at = Column(UtcDateTime)


class BroadcastRecipient(Base):
    """One person's line in a broadcast's delivery report."""

    __tablename__ = "broadcast_recipients"

    broadcast_id = Column(Integer, ForeignKey("broadcasts.id"), primary_key=True)
    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    status = Column(String(16), nullable=False)  # pending | sending | sent | failed | skipped
    reason = Column(String(32))  # skipped or failed: a key of broadcasts.yml `reasons`
    detail = Column(Text)
    attempts = Column(Integer, nullable=False, default=0)
    claimed_at = Column(UtcDateTime)
    finished_at = Column(UtcDateTime)

    __table_args__ = (Index("ix_broadcast_recipients_status", "broadcast_id", "status"),)


# -- what a broadcast is -------------------------------------------------------------------------

@dataclass(frozen=True)
class Audience:
    kind: str = SUBSCRIBERS
    community: Optional[str] = None
    building: Optional[str] = None
    topic: Optional[str] = None

    def label(self, config: BroadcastConfig) -> str:
        place = f"{self.community or '全街道'}{f'{self.building}号楼' if self.building else ''}"
        who = "订阅通知的居民" if self.kind == SUBSCRIBERS else ("巡查志愿者" if self.community else "志愿者")
        topic = f"（{config.topics[self.topic]}）" if self.topic else ""
        return f"{place}{who}{topic}"


@dataclass(frozen=True)
class Draft:
    """What staff asked for, before validation."""

    text: str
    audience: Audience = Audience()
    send_at: Optional[datetime] = None
    image_path: Optional[str] = None  # a file to check and store (the command line)
    image_id: Optional[str] = None  # a platform file id (a photo sent in chat)
    image_channel: Optional[str] = None
    author_channel: str = "cli"
    author_id: str = "staff"


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


@dataclass(frozen=True)
class BroadcastView:
    id: int
    text: str
    image: Optional[str]
    image_channel: Optional[str]
    audience: Audience
    author_channel: str
    author_id: str
    status: str
    send_at: Optional[datetime]
    created_at: datetime
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    heartbeat_at: Optional[datetime]
    counts: dict = field(default_factory=dict)  # status → people

    @classmethod
    def of(cls, row: Broadcast, counts: Optional[dict] = None) -> "BroadcastView":
        return cls(row.id, row.text, row.image, row.image_channel,
                   Audience(row.audience, row.community, row.building, row.topic), row.author_channel,
                   row.author_id, row.status, row.send_at, row.created_at, row.started_at, row.finished_at,
                   row.heartbeat_at, dict(counts or {}))

    def image_for(self, channel: str, config: BroadcastConfig) -> bool:
        info = config.channels.get(channel)
        return bool(self.image and info and info.images and self.image_channel in (None, channel))


# -- reading staff input -------------------------------------------------------------------------

_ALL_WORDS = {"全部", "全体", "所有人", "全街道", "全体居民", "所有居民"}
_VOLUNTEER_WORDS = {"志愿者", "骑手", "骑手志愿者", "全体志愿者", "巡查志愿者"}
_BUILDING_ONLY = re.compile(r"^(\d{1,3}|[一二两三四五六七八九十]{1,3})(?:号楼|栋|幢|#|号)$")
_LOOKS_LIKE_PLACE = re.compile(r"^(\S+?(?:社区|小区|街道|家园|花园|东里|西里|南里|北里))(?:\d{1,3}(?:号楼|栋|幢|#))?$")
_TIME_OF_DAY = r"(?:(上午|早上|中午|下午|晚上))?\s*(\d{1,2})(?:[:：点](\d{2}|半)?)?分?"
_RELATIVE = re.compile(rf"^(今天|明天|后天)?\s*{_TIME_OF_DAY}$")
_DATED = re.compile(rf"^(?:(\d{{4}})[-/年])?(\d{{1,2}})[-/月](\d{{1,2}})[日号]?\s*{_TIME_OF_DAY}$")


def parse_when(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """"明天8:00", "今天18点半", "11-25 08:00", "2026-11-25 08:00", "8:00" (the next one) → UTC."""
    text = text.strip().replace("：", ":")
    local_now = now.astimezone(zone)
    relative, dated = _RELATIVE.match(text), _DATED.match(text)
    if relative and (relative.group(1) or ":" in text or "点" in text):
        day_word, part, hour, minute = relative.groups()
        day = local_now.date() + timedelta(days={"今天": 0, "明天": 1, "后天": 2}.get(day_word or "今天"))
    elif dated:
        year, month, dom, part, hour, minute = dated.groups()
        try:
            day = date(int(year or local_now.year), int(month), int(dom))
        except ValueError:
            raise BroadcastError(f"“{text}”不是有效的日期。") from None
    else:
        raise BroadcastError(f"看不懂定时“{text}”，请写成“明天8:00”或“2026-11-25 08:00”。")
    hour = int(hour) + (12 if part in ("下午", "晚上") and int(hour) < 12 else 0)
    minute = 30 if minute == "半" else int(minute or 0)
    if hour > 23 or minute > 59:
        raise BroadcastError(f"“{text}”不是有效的时间。")
    moment = datetime.combine(day, time(hour, minute), zone)
    if not (relative and relative.group(1)) and not dated and moment <= local_now:
        moment += timedelta(days=1)  # a bare time of day: the next one
    return moment.astimezone(timezone.utc)


def _place(token: str, directory: Directory) -> Optional[tuple[str, Optional[str]]]:
    """(community, building) for "望园社区", "望园3号楼", "万柳西园社区5栋"; None if it names no place."""
    for alias, name in sorted(directory.community_aliases(), key=lambda pair: -len(pair[0])):
        if token.startswith(alias):
            rest = token[len(alias):]
            if not rest:
                return name, None
            building = _BUILDING_ONLY.match(rest)
            if building:
                return name, str(chinese_number(building.group(1)))
    return None


def parse_notice(body: str, directory: Directory, now: datetime, zone: ZoneInfo,
                 config: Optional[BroadcastConfig] = None) -> Draft:
    """Reads what follows "/通知": "[对象] [#话题] [定时 时间] 内容". 对象: a community (望园社区), a building
    (望园社区3号楼), 志愿者 (optionally followed by a community: its patrol volunteers) or 全部 (the
    default: every subscriber). Leading words are read as long as they are one of these; the rest is
    the text."""
    config = config or get_config()
    words = list(re.finditer(r"\S+", body))
    kind, community, building, topic, send_at, start = SUBSCRIBERS, None, None, None, None, len(body)
    index = 0
    while index < len(words):
        word = words[index].group(0)
        place = _place(word, directory)
        if word in _VOLUNTEER_WORDS:
            kind = VOLUNTEERS
        elif word in _ALL_WORDS or word == directory.street:
            pass
        elif place:
            community, building = place[0], place[1] or building
        elif _BUILDING_ONLY.match(word):
            building = str(chinese_number(_BUILDING_ONLY.match(word).group(1)))
        elif _LOOKS_LIKE_PLACE.match(word):
            raise _unknown_community(_LOOKS_LIKE_PLACE.match(word).group(1), directory)
        elif word[0] in "#＃" and len(word) > 1:
            topic = _topic(word[1:], config)
        elif word.startswith("定时") and (when := _read_when(words, index, now, zone)):
            send_at, index = when
        else:
            start = words[index].start()
            break
        index += 1
    if building and not community:
        community = directory.single_community()
        if community is None:
            raise BroadcastError(f"{building}号楼是哪个社区的？请写成“望园社区{building}号楼”这样。")
    return Draft(text=body[start:].strip(), audience=Audience(kind, community, building, topic), send_at=send_at)


def _read_when(words, index: int, now: datetime, zone: ZoneInfo) -> Optional[tuple[datetime, int]]:
    """"定时 明天8:00", "定时明天8点", "定时 11-25 08:00": the moment and the index of its last word.
    A word that only starts with 定时 and no time ("定时清理楼道") is the notice's first word: None."""
    inline = words[index].group(0)[2:].lstrip(":：")
    if inline:
        candidates = [(inline, index)]
    else:  # the time may be one word or two ("11-25 08:00")
        following = [w.group(0) for w in words[index + 1:index + 3]]
        candidates = [(" ".join(following[:n]), index + n) for n in (2, 1) if len(following) >= n]
    for candidate, last in candidates:
        with contextlib.suppress(BroadcastError):
            return parse_when(candidate, now, zone), last
    if inline:
        return None
    raise BroadcastError("定时后面请写时间，例如“定时 明天8:00”。")


def _unknown_community(name: str, directory: Directory) -> BroadcastError:
    known = "、".join(c.name for c in directory.communities)
    return BroadcastError(f"没有找到“{name}”。{directory.street}的社区有：{known}。")


def _topic(word: str, config: BroadcastConfig) -> str:
    code = config.topic_code(word)
    if code is None:
        raise BroadcastError(f"没有“{word}”这类通知，可以选：{'、'.join(config.topics.values())}。")
    return code


# -- validation ------------------------------------------------------------------------------------

def validate(draft: Draft, directory: Directory, now: datetime, config: Optional[BroadcastConfig] = None) -> Draft:
    """The draft with canonical names, or :class:`BroadcastError` saying what is wrong."""
    config = config or get_config()
    text = (draft.text or "").strip()
    if not text:
        raise BroadcastError("通知内容是空的，请写上要通知的事。")
    if len(text) > config.text_max_chars:
        raise BroadcastError(f"通知有{len(text)}字，太长了，请控制在{config.text_max_chars}字以内。")
    audience = _valid_audience(draft.audience, directory, config)
    if draft.send_at is not None and draft.send_at <= now - timedelta(minutes=1):
        raise BroadcastError("定时的时间已经过了，请换一个以后的时间。")
    return replace(draft, text=text, audience=audience)


def _valid_audience(audience: Audience, directory: Directory, config: BroadcastConfig) -> Audience:
    if audience.kind not in (SUBSCRIBERS, VOLUNTEERS):
        raise BroadcastError(f"不认识的发送对象：{audience.kind}")
    community = None
    if audience.community:
        found = directory.find_community(audience.community)
        if found is None or audience.community not in (found.name, *found.aliases):
            raise _unknown_community(audience.community, directory)
        community = found.name
    building = audience.building and (bare_number(audience.building) or audience.building.strip())
    if building:
        if audience.kind == VOLUNTEERS:
            raise BroadcastError("志愿者按巡查片区（社区）发送，不能指定楼栋。")
        if community is None:
            raise BroadcastError("指定楼栋时请同时写明社区。")
        if directory.building(community, building) is None:
            raise BroadcastError(f"{community}没有{building}号楼。")
    topic = _topic(audience.topic, config) if audience.topic else None
    return Audience(audience.kind, community, building or None, topic)


def check_image(path: str | Path, config: Optional[BroadcastConfig] = None) -> tuple[bytes, str]:
    """The file's bytes and format if it is an image we can send; read by content, never by name."""
    from PIL import Image, UnidentifiedImageError

    config = config or get_config()
    path = Path(path)
    if not path.is_file():
        raise BroadcastError(f"找不到图片文件：{path}")
    size = path.stat().st_size
    if size > config.image_max_bytes:
        raise BroadcastError(f"图片有{size / 1048576:.1f}MB，太大了，请小于{config.image_max_bytes / 1048576:.0f}MB。")
    data = path.read_bytes()
    try:
        with Image.open(BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
            image.verify()  # a truncated or corrupt file fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise BroadcastError(f"“{path.name}”不是一张能打开的图片，请换一张 JPG 或 PNG 图片。") from None
    if kind not in config.image_formats:
        raise BroadcastError(f"“{path.name}”是 {kind} 格式，请用 {' 或 '.join(config.image_formats)} 图片。")
    if max(width, height) > config.image_max_side:
        raise BroadcastError(f"图片尺寸 {width}×{height} 太大了，最长边请不超过 {config.image_max_side} 像素。")
    return data, kind


def _store_image(data: bytes, kind: str) -> str:
    """Under the var directory, named by content: the Rasa server reads it from there (so it must
    share LINLI_VAR_DIR with whoever creates the broadcast), and a file moved later does no harm."""
    folder = get_settings().var_dir / "broadcasts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:24]}.{kind.lower()}"
    if not path.exists():
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return str(path.resolve())


# -- channels --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reach:
    """Which channels the Rasa server was started with (its credentials file), and WeChat Work's
    group robots by name: a person on any other channel cannot be reached."""

    channels: frozenset
    robots: frozenset = frozenset()

    @classmethod
    def from_credentials(cls, path: Optional[Path] = None, config: Optional[BroadcastConfig] = None) -> "Reach":
        from bot.runtime import credentials_path

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
    from bot.followups import local_time

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


def notice_source(view: "BroadcastView", street: str, config: Optional[BroadcastConfig] = None) -> str:
    """"望园社区通知", "望园社区3号楼 停水停电通知": signs a notice under its text (WeChat's template
    fallback shows only a notice's first characters, so the text comes first)."""
    config = config or get_config()
    audience = view.audience
    place = f"{audience.community or street}{f'{audience.building}号楼' if audience.building else ''}"
    kind = f"{config.topics[audience.topic]}通知" if audience.topic else "通知"
    if audience.kind == VOLUNTEERS:
        kind = f"志愿者{kind}"
    return f"{place} {kind}"


# -- storing and state changes ------------------------------------------------------------------------

def create(engine, draft: Draft, directory: Directory, now: datetime, status: str = "draft",
           config: Optional[BroadcastConfig] = None) -> BroadcastView:
    """Stores a validated broadcast, as a ``draft`` to confirm or straight away ``scheduled``;
    a file image is checked before anything is written."""
    config = config or get_config()
    draft = validate(draft, directory, now, config)
    image, image_channel = draft.image_id, draft.image_channel if draft.image_id else None
    if draft.image_path:
        image = _store_image(*check_image(draft.image_path, config))
    audience = draft.audience
    row = Broadcast(text=draft.text, image=image, image_channel=image_channel, audience=audience.kind,
                    community=audience.community, building=audience.building, topic=audience.topic,
                    author_channel=draft.author_channel, author_id=draft.author_id, status=status,
                    send_at=draft.send_at, created_at=now, confirmed_at=now if status == "scheduled" else None)
    with session_scope(engine) as session:
        session.add(row)
        session.flush()
        return BroadcastView.of(row)


def get(engine, broadcast_id) -> Optional[BroadcastView]:
    broadcast_id = _id(broadcast_id)
    with session_scope(engine) as session:
        row = session.get(Broadcast, broadcast_id) if broadcast_id is not None else None
        return BroadcastView.of(row, _counts(session, row.id)) if row else None


def listing(engine, limit: int = 20) -> list[BroadcastView]:
    with session_scope(engine) as session:
        rows = session.execute(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)).scalars().all()
        return [BroadcastView.of(row, _counts(session, row.id)) for row in rows]


def report(engine, broadcast_id: int) -> dict:
    """(status, reason, channel) → people: the delivery report's figures."""
    with session_scope(engine) as session:
        rows = session.execute(select(BroadcastRecipient.status, BroadcastRecipient.reason,
                                      BroadcastRecipient.channel, func.count())
                               .where(BroadcastRecipient.broadcast_id == broadcast_id)
                               .group_by(BroadcastRecipient.status, BroadcastRecipient.reason,
                                         BroadcastRecipient.channel))
        return {(status, reason, channel): count for status, reason, channel, count in rows}


def failures(engine, broadcast_id: int, limit: int = 20) -> list[BroadcastRecipient]:
    with session_scope(engine) as session:
        return list(session.execute(select(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == "failed")
            .order_by(BroadcastRecipient.finished_at).limit(limit)).scalars())


def _counts(session, broadcast_id: int) -> dict:
    rows = session.execute(select(BroadcastRecipient.status, func.count())
                           .where(BroadcastRecipient.broadcast_id == broadcast_id)
                           .group_by(BroadcastRecipient.status))
    return dict(rows.all())


def _id(value) -> Optional[int]:
    text = str(value if value is not None else "").strip().lstrip("#")
    return int(text) if text.isdigit() and len(text) <= 9 else None


def confirm(engine, broadcast_id, author_channel: str, author_id: str, now: datetime,
            config: Optional[BroadcastConfig] = None) -> BroadcastView:
    """A draft becomes ``scheduled``, once: only its author confirms it, and only while fresh."""
    config = config or get_config()
    view = _existing(engine, broadcast_id)
    if (view.author_channel, view.author_id) != (author_channel, author_id):
        raise BroadcastError(f"通知 {view.id} 不是您起草的，请让起草人确认。")
    if view.status != "draft":
        raise BroadcastError(_already(view, "已经确认过了"))
    if view.created_at < now - config.draft_valid:
        raise BroadcastError(f"通知 {view.id} 的预览已经过期，请重新发送命令。")
    with session_scope(engine) as session:
        moved = session.execute(update(Broadcast).where(Broadcast.id == view.id, Broadcast.status == "draft")
                                .values(status="scheduled", confirmed_at=now)).rowcount
    if not moved:
        raise BroadcastError(_already(_existing(engine, view.id), "已经确认过了"))
    return _existing(engine, view.id)


def cancel(engine, broadcast_id, actor: str, now: datetime) -> BroadcastView:
    """Stops a broadcast from any process: runners check the state before every send; those not
    yet sent are recorded as skipped (cancelled)."""
    view = _existing(engine, broadcast_id)
    with session_scope(engine) as session:
        moved = session.execute(update(Broadcast).where(Broadcast.id == view.id, Broadcast.status.in_(OPEN))
                                .values(status="cancelled", cancelled_at=now, cancelled_by=actor)).rowcount
        if moved:
            session.execute(update(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == view.id,
                                                             BroadcastRecipient.status == "pending")
                            .values(status="skipped", reason="cancelled", finished_at=now))
    if not moved:
        raise BroadcastError(_already(_existing(engine, view.id), "已经发完，没法取消了"))
    return _existing(engine, view.id)


def _existing(engine, broadcast_id) -> BroadcastView:
    view = get(engine, broadcast_id)
    if view is None:
        raise BroadcastError(f"没有编号为 {broadcast_id} 的通知。")
    return view


def _already(view: BroadcastView, done: str) -> str:
    """Why a confirmation or a cancel changes nothing: it was cancelled, or ``done`` says what."""
    return f"通知 {view.id} {'已经取消了' if view.status == 'cancelled' else done}。"


# -- sending ---------------------------------------------------------------------------------------

class Progress:
    """What a runner reports as it goes (the command line draws a bar; jobs log)."""

    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, outcome: str) -> None:
        pass


@dataclass
class RunResult:
    view: BroadcastView
    ran: bool  # this call sent (or tried to send) anything
    paused: bool = False  # stopped before the end (Rasa unreachable, or asked to); a watch job resumes it


def run(engine, broadcast_id: int, rasa_url: str, token: Optional[str], clock: Callable[[], datetime],
        reach: Optional[Reach] = None, progress: Optional[Progress] = None, stop: Optional[threading.Event] = None,
        config: Optional[BroadcastConfig] = None) -> RunResult:
    """Sends a due broadcast to everyone not yet sent to, unless another live runner has it.
    Setting ``stop`` pauses it after the sends in flight (a watch job resumes it later)."""
    config = config or get_config()
    runner = uuid.uuid4().hex[:12]
    if not _take(engine, broadcast_id, runner, clock(), reach or Reach.from_credentials(config=config), config):
        return RunResult(_existing(engine, broadcast_id), ran=False)
    view = _existing(engine, broadcast_id)
    fanout = _FanOut(engine, view, runner, rasa_url, token, clock, config, progress or Progress(),
                     stop or threading.Event())
    fanout.run()
    finished = _finish(engine, view.id, runner, clock())
    return RunResult(_existing(engine, broadcast_id), ran=True, paused=not finished)


def _take(engine, broadcast_id: int, runner: str, now: datetime, reach: Reach, config: BroadcastConfig) -> bool:
    """Claims the broadcast for this runner: a due scheduled one (resolving its audience into the
    report's rows in the same transaction), or one whose runner stopped beating."""
    with session_scope(engine) as session:
        started = session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == "scheduled",
            (Broadcast.send_at.is_(None)) | (Broadcast.send_at <= now))
            .values(status="sending", runner=runner, heartbeat_at=now, started_at=now)).rowcount
        if started:
            row = session.get(Broadcast, broadcast_id)
            audience = Audience(row.audience, row.community, row.building, row.topic)
            rows = [{"broadcast_id": broadcast_id, "channel": c.channel, "sender_id": c.sender_id,
                     "status": "skipped" if c.skip else "pending", "reason": c.skip, "attempts": 0,
                     "finished_at": now if c.skip else None} for c in resolve(session, audience, reach)]
            if rows:
                session.execute(insert(BroadcastRecipient), rows)
            return True
    with session_scope(engine) as session:
        taken = session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == "sending",
            Broadcast.heartbeat_at < now - config.stale_after)
            .values(runner=runner, heartbeat_at=now)).rowcount
        if taken:
            session.execute(update(BroadcastRecipient).where(
                BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == "sending")
                .values(status="failed", reason="interrupted", finished_at=now,
                        detail="the runner stopped while this was in flight; not sent again"))
            log.warning("broadcast %s: took over from a runner that stopped", broadcast_id)
        return bool(taken)


def _finish(engine, broadcast_id: int, runner: str, now: datetime) -> bool:
    """``done`` once no row is left to send; a cancelled broadcast stays cancelled."""
    with session_scope(engine) as session:
        left = exists().where(BroadcastRecipient.broadcast_id == broadcast_id,
                              BroadcastRecipient.status.in_(("pending", "sending")))
        return bool(session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == "sending", Broadcast.runner == runner, ~left)
            .values(status="done", finished_at=now), execution_options={"synchronize_session": False}).rowcount)


class _FanOut:
    """Bounded concurrency per channel: each channel's pending rows are worked off by that channel's
    own threads, so a slow channel (a robot waiting out its minute) never holds up the others."""

    def __init__(self, engine, view: BroadcastView, runner: str, rasa_url: str, token: Optional[str],
                 clock: Callable[[], datetime], config: BroadcastConfig, progress: Progress,
                 stop: threading.Event) -> None:
        self.engine, self.view, self.runner, self.clock, self.config = engine, view, runner, clock, config
        self.progress = progress
        self.url, self.token = rasa_url.rstrip("/"), token
        self.stop = stop
        self._failures_in_a_row = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        workers = sum(info.concurrency for info in config.channels.values())
        self.http = httpx.Client(timeout=httpx.Timeout(config.request_timeout, connect=5.0),
                                 limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers))

    def run(self) -> None:
        pending = self._pending()
        counts = _counts_by_status(self.engine, self.view.id)
        self.progress.start(sum(counts.values()), sum(n for s, n in counts.items() if s not in ("pending",)))
        threads = [threading.Thread(target=self._heartbeat, name="broadcast-heartbeat", daemon=True)]
        for channel, people in pending.items():
            queue: SimpleQueue = SimpleQueue()
            for sender_id in people:
                queue.put(sender_id)
            workers = min(self.config.channels[channel].concurrency, len(people))  # only reachable channels are pending
            threads += [threading.Thread(target=self._work, args=(channel, queue), daemon=True,
                                         name=f"broadcast-{channel}-{n}") for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads[1:]:
            thread.join()
        self._done.set()
        threads[0].join()
        self.http.close()

    def _pending(self) -> dict[str, list[str]]:
        with session_scope(self.engine) as session:
            rows = session.execute(select(BroadcastRecipient.channel, BroadcastRecipient.sender_id).where(
                BroadcastRecipient.broadcast_id == self.view.id, BroadcastRecipient.status == "pending"))
            pending: dict[str, list[str]] = {}
            for channel, sender_id in rows:
                pending.setdefault(channel, []).append(sender_id)
            return pending

    def _heartbeat(self) -> None:
        while not self._done.wait(self.config.heartbeat_seconds):
            with session_scope(self.engine) as session:
                mine = session.execute(update(Broadcast).where(
                    Broadcast.id == self.view.id, Broadcast.runner == self.runner, Broadcast.status == "sending")
                    .values(heartbeat_at=self.clock())).rowcount
            if not mine:  # cancelled, or taken over after a stall: stop at the next claim
                self.stop.set()

    def _work(self, channel: str, queue: SimpleQueue) -> None:
        while not self.stop.is_set():
            try:
                sender_id = queue.get_nowait()
            except Empty:
                return
            self._one(channel, sender_id, queue)

    def _one(self, channel: str, sender_id: str, queue: SimpleQueue) -> None:
        claim = _claim(self.engine, self.view, channel, sender_id, self.clock())
        if claim == "stop":
            self.stop.set()
            return
        if claim != "claimed":
            self.progress.advance(claim)
            return
        outcome, reason, detail = self._send(channel, sender_id)
        if outcome == "retry":
            _release(self.engine, self.view.id, channel, sender_id)
            queue.put(sender_id)
            self._connection_failed(detail)
            return
        self._connection_ok()
        _record(self.engine, self.view.id, channel, sender_id, outcome, reason, detail, self.clock())
        self.progress.advance(outcome)

    def _send(self, channel: str, sender_id: str) -> tuple[str, Optional[str], Optional[str]]:
        entities = {"broadcast_id": str(self.view.id)}
        if self.view.image_for(channel, self.config):
            entities["broadcast_image"] = "yes"
        try:
            response = self.http.post(
                trigger_intent_url(self.url, sender_id),
                params={"output_channel": channel, **({"token": self.token} if self.token else {})},
                json={"name": DELIVER_INTENT, "entities": entities})
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:  # never reached Rasa: safe to try again
            return "retry", None, f"{type(error).__name__}: {error}"
        except httpx.TimeoutException as error:  # Rasa may have sent it: not again
            return "failed", "timeout", f"{type(error).__name__}: {error}"
        except httpx.HTTPError as error:
            return "failed", "error", f"{type(error).__name__}: {error}"[:1000]
        if response.status_code == 200:
            return "sent", None, None
        detail = response.text[:1000]
        return "failed", self.config.failure_reason(detail), detail

    def _connection_failed(self, detail: str) -> None:
        with self._lock:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self.config.connect_retries:
                log.warning("broadcast %s: Rasa unreachable (%s); pausing", self.view.id, detail)
                self.stop.set()
        systime.sleep(min(2 ** self._failures_in_a_row * 0.1, 5))

    def _connection_ok(self) -> None:
        with self._lock:
            self._failures_in_a_row = 0


def _counts_by_status(engine, broadcast_id: int) -> dict:
    with session_scope(engine) as session:
        return _counts(session, broadcast_id)


def _claim(engine, view: BroadcastView, channel: str, sender_id: str, now: datetime) -> str:
    """``claimed``; ``stop`` when the broadcast is no longer sending (cancelled); ``skipped`` when
    a subscriber unsubscribed meanwhile; ``taken`` when another runner has the row."""
    row = and_(BroadcastRecipient.broadcast_id == view.id, BroadcastRecipient.channel == channel,
               BroadcastRecipient.sender_id == sender_id)
    sending = exists().where(Broadcast.id == view.id, Broadcast.status == "sending")
    conditions = [row, BroadcastRecipient.status == "pending", sending]
    if view.audience.kind == SUBSCRIBERS:
        conditions.append(exists().where(Person.channel == channel, Person.sender_id == sender_id,
                                         Person.subscribed.is_(True)))
    with session_scope(engine) as session:
        claimed = session.execute(update(BroadcastRecipient).where(*conditions).values(
            status="sending", attempts=BroadcastRecipient.attempts + 1, claimed_at=now),
            execution_options={"synchronize_session": False}).rowcount
        if claimed:
            return "claimed"
        if not session.execute(select(sending)).scalar():
            return "stop"
        unsubscribed = session.execute(update(BroadcastRecipient).where(row, BroadcastRecipient.status == "pending")
                                       .values(status="skipped", reason="unsubscribed", finished_at=now,
                                               detail="unsubscribed after the broadcast started")).rowcount
        return "skipped" if unsubscribed else "taken"


def _release(engine, broadcast_id: int, channel: str, sender_id: str) -> None:
    with session_scope(engine) as session:
        session.execute(update(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.channel == channel,
            BroadcastRecipient.sender_id == sender_id, BroadcastRecipient.status == "sending")
            .values(status="pending"))


def _record(engine, broadcast_id: int, channel: str, sender_id: str, outcome: str, reason: Optional[str],
            detail: Optional[str], now: datetime) -> None:
    with session_scope(engine) as session:
        session.execute(update(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.channel == channel,
            BroadcastRecipient.sender_id == sender_id, BroadcastRecipient.status == "sending")
            .values(status=outcome, reason=reason, detail=detail, finished_at=now))


# -- scheduling ------------------------------------------------------------------------------------

def job_id(broadcast_id: int, watch: bool = False) -> str:
    return f"broadcast:{broadcast_id}{':watch' if watch else ''}"


def schedule(scheduler, view: BroadcastView, now: datetime) -> None:
    """The scheduler process sends it at its time (quiet hours do not apply: staff chose the time)."""
    scheduler.at(job_id(view.id), "bot.broadcasts:drive", view.send_at or now, quiet=False, broadcast_id=view.id)


def drive(context, broadcast_id: int) -> None:
    """The scheduler's job: sends a due broadcast, or keeps watch over one another process is
    sending and takes it over if that process stops beating."""
    config = get_config()
    view = get(context.engine, broadcast_id)
    if view is None or view.status not in ("scheduled", "sending"):
        return
    now = context.clock()
    if view.status == "scheduled" and view.send_at and view.send_at > now:
        schedule(context.schedule, view, now)  # its time was moved or the job ran early
        return
    context.schedule.at(job_id(broadcast_id, watch=True), "bot.broadcasts:drive", now + config.stale_after,
                        quiet=False, broadcast_id=broadcast_id)
    settings = context.schedule.settings
    result = run(context.engine, broadcast_id, settings.rasa_url, settings.api_token, context.clock, config=config)
    if not result.ran:
        return
    if result.view.status in ("done", "cancelled"):
        context.schedule.remove(job_id(broadcast_id, watch=True))
        tell_author(context.delivery, result.view)
    elif result.paused:
        raise RetryLater(f"broadcast {broadcast_id}: Rasa unreachable, {result.view.counts.get('pending', 0)} left")


def tell_author(delivery, view: BroadcastView) -> None:
    """The staff member who sent it from a chat hears how it went (once)."""
    if view.author_channel == "cli" or delivery is None:
        return
    delivery.send(f"broadcast:{view.id}:report", Recipient(view.author_channel, view.author_id), REPORT_INTENT,
                  {"broadcast_id": str(view.id)})


# -- residents' topics ---------------------------------------------------------------------------------

def choose_topic(engine, channel: str, sender_id: str, topic: Optional[str], now: datetime,
                 config: Optional[BroadcastConfig] = None) -> tuple[bool, list[str]]:
    """Adds a topic to the person's choice (the first choice narrows "everything" to it); ``None``
    goes back to everything. Returns (subscribed, topics) so the reply can be honest."""
    config = config or get_config()
    topic = _topic(topic, config) if topic is not None else None
    with session_scope(engine) as session:
        person = session.get(Person, (channel, sender_id))
        if person is None:
            person = Person(channel=channel, sender_id=sender_id, role="resident", subscribed=False, topics=[])
            session.add(person)
        chosen = [] if topic is None else sorted(set(person.topics or []) | {topic}, key=list(config.topics).index)
        person.topics, person.updated_at = chosen, now
        return bool(person.subscribed), chosen


def serves(engine, channel: str, sender_id: str) -> tuple[str, ...]:
    """The communities a staff member serves (empty: the whole street)."""
    with session_scope(engine) as session:
        person = session.get(Person, (channel, sender_id))
        return tuple(person.staff_communities or ()) if person else ()


def topics_of(engine, channel: str, sender_id: str) -> list[str]:
    with session_scope(engine) as session:
        person = session.get(Person, (channel, sender_id))
        return list(person.topics or []) if person else []

