"""Reading a staff member's notice (audience words, time) and checking a draft and its image."""
from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Optional
from zoneinfo import ZoneInfo

from bot.broadcasts.errors import BroadcastError
from bot.broadcasts.models import SUBSCRIBERS, VOLUNTEERS
from bot.config.broadcasts import BroadcastConfig, get_config
from bot.config.directory import Directory
from bot.core.settings import get_settings
from bot.nlu.address import bare_number, chinese_number

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


# -- reading staff input -------------------------------------------------------------------------

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
        day = local_now.date() + timedelta(days={"今天": 0, "明天": 1, "后天": 2}[day_word or "今天"])
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
        if word in config.volunteer_words:
            kind = VOLUNTEERS
        elif word in config.everyone_words or word == directory.street:
            pass
        elif place:
            community, building = place[0], place[1] or building
        elif building_only := _BUILDING_ONLY.match(word):
            building = str(chinese_number(building_only.group(1)))
        elif looks_like_place := _LOOKS_LIKE_PLACE.match(word):
            raise _unknown_community(looks_like_place.group(1), directory)
        elif word[0] in "#＃" and len(word) > 1:
            topic = topic_of(word[1:], config)
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


def topic_of(word: str, config: BroadcastConfig) -> str:
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
        raise BroadcastError("通知内容是空的，请写上要通知的事，比如“明天9点到12点停水，请提前储水”。")
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
    topic = topic_of(audience.topic, config) if audience.topic else None
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
    if kind is None or kind not in config.image_formats:
        raise BroadcastError(f"“{path.name}”是 {kind} 格式，请用 {' 或 '.join(config.image_formats)} 图片。")
    if max(width, height) > config.image_max_side:
        raise BroadcastError(f"图片尺寸 {width}×{height} 太大了，最长边请不超过 {config.image_max_side} 像素。")
    return data, kind


def store_image(data: bytes, kind: str) -> str:
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
