"""Patterns and formats used everywhere: ticket ids, mainland mobile numbers, dates and durations as
residents read them, and cutting long text into messages a platform accepts.

Each written form has one pattern here; readers elsewhere (the NLU rules, the channels, staff
commands) build on these rather than keep copies that drift apart.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Callable, Optional
from zoneinfo import ZoneInfo

#: A mainland mobile number's 11 digits.
MOBILE = r"1[3-9]\d{9}"
MOBILE_IN_TEXT = re.compile(rf"(?<!\d){MOBILE}(?!\d)")
#: A mobile number as residents write it, in groups: "138 1234 5678", "138-1234-5678".
MOBILE_WRITTEN = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
#: A mobile number as Linli shows it to others: 138****5678.
MASKED_MOBILE = re.compile(r"(?<!\d)1[3-9]\d[*＊]{4}\d{4}(?!\d)")
#: A ticket id, canonical ("GD" + 8-digit local date + 4-digit daily sequence).
TICKET_ID = re.compile(r"^GD(\d{8})(\d{4})$")
#: A ticket id as people type it: any case, spaces after "GD", inside other text.
TICKET_ID_WRITTEN = re.compile(r"(?i)(?<![a-z0-9])gd\s*(\d{12})(?!\d)")

_SENTENCE_ENDS = ("\n", "。", "！", "？", ". ")


def format_ticket_id(day: str, sequence: int) -> str:
    return f"GD{day}{sequence:04d}"


def parse_ticket_id(value: Optional[str]) -> Optional[str]:
    """The canonical id, or None when the text is not a well-formed ticket id."""
    candidate = re.sub(r"\s+", "", value or "").upper()
    return candidate if TICKET_ID.match(candidate) else None


def find_ticket_id(text: Optional[str]) -> Optional[str]:
    """The first ticket id written inside ``text`` ("查一下gd 202611220007"), canonical; else None."""
    match = TICKET_ID_WRITTEN.search(text or "")
    return parse_ticket_id(match.group(0)) if match else None


def parse_phone(value: Optional[str]) -> Optional[str]:
    """The 11 digits of a mainland mobile number written with spaces, dashes or +86; else None."""
    digits = re.sub(r"[\s\-()]", "", value or "")
    digits = re.sub(r"^(?:\+|00)?86(?=\d{11}$)", "", digits)
    return digits if re.fullmatch(MOBILE, digits) else None


def local_time(moment: datetime, zone: ZoneInfo | str) -> str:
    """A moment as residents read deadlines and appointments: "12月2日14:30" (local, no year)."""
    local = moment.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    return f"{local.month}月{local.day}日{local:%H:%M}"


def duration(delta: timedelta) -> str:
    """A length of time in the largest unit that says it plainly: 3天, 5小时, 20分钟."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes >= 48 * 60:
        return f"{minutes // (24 * 60)}天"
    if minutes >= 60:
        return f"{minutes // 60}小时"
    return f"{minutes}分钟"


def split_text(text: str, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Pieces of at most ``limit`` as ``size`` measures them (characters, UTF-16 units for
    Telegram, UTF-8 bytes for WeChat), cut at a line or sentence end when one is near."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if size(rest) <= limit:
            parts.append(rest)
            break
        cut = _fitting(rest, limit, size)
        boundary = max(rest.rfind(mark, 0, cut) for mark in _SENTENCE_ENDS)
        if boundary >= cut // 2:
            cut = boundary + 1
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts


def _fitting(text: str, limit: int, size: Callable[[str], int]) -> int:
    """The longest prefix of ``text`` (in characters, at least one) that ``size`` fits in ``limit``."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if size(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def utf16_units(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    """Length as WeChat counts it."""
    return len(text.encode())


_NOT_WORDS = re.compile(r"[\W_]+")


def words_only(text: Optional[str]) -> str:
    """Letters and digits alone, punctuation, spaces and symbols taken out: what was said, to compare
    or to measure."""
    return _NOT_WORDS.sub("", text or "")
