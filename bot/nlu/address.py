"""Rule-based reading of the structured parts of a resident's message.

Building, unit and room numbers, phone numbers and ticket ids follow a handful of written forms
("5号楼2单元502", "五号楼", "5-2-502", "138 1234 5678", "gd202611220007"); rules read these exactly
and normalise them, which a statistical extractor trained on a few hundred examples would not.
The same functions validate a bare answer to a form question ("6" when asked for the building), so
the NLU component and the actions agree on what a valid value is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from bot.core.text import MOBILE_WRITTEN, TICKET_ID_WRITTEN, find_ticket_id, parse_ticket_id

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:\d{1,3}|[零〇一二两三四五六七八九十百]{1,4})"
_FULLWIDTH = str.maketrans("０１２３４５６７８９＃－", "0123456789#-")
#: A room read digit by digit in Chinese ("五零二", "六〇一"): three or four digits, one of them zero.
_CN_ROOM = re.compile(r"(?<![零〇一二两三四五六七八九十百])(?=[一二三四五六七八九零〇]*[零〇])[一二三四五六七八九零〇]{3,4}"
                      r"(?![零〇一二两三四五六七八九十百])")
#: 门 for 单元 ("4门302"), but not a gate or a door ("东门", "门口", "门禁").
_UNIT_WORD = r"(?:单元|门(?![口前外里卫禁锁厅框窗把]))"

_TRIPLE = re.compile(r"(?<!\d)(\d{1,3})-(\d{1,2})-(\d{3,4})(?!\d)")
_BUILDING = re.compile(rf"(?<![\d号])({_NUM})\s*(?:号楼|号樓|栋|棟|幢|#楼|#|号(?=\s*{_NUM}\s*单元))")
_UNIT = re.compile(rf"(?<!\d)({_NUM})\s*{_UNIT_WORD}")
_ROOM_AFTER = re.compile(rf"(?:{_UNIT_WORD}|楼|栋|幢|#)\s*(\d{{3,4}})(?:室|号|房|户)?(?!\d)")
_ROOM_MARKED = re.compile(r"(?<!\d)(\d{3,4})\s*(?:室|号房|房间)")
#: "我家502屋顶漏水": a room said before any building, after the words for one's home.
_ROOM_HOME = re.compile(r"(?:我家|家里|我们家|俺家|住在?)\s*(\d{3,4})(?:室|号|房|户)?(?![\d.号栋幢楼块元米平])")
_BARE_NUMBER = re.compile(rf"^\s*(?:是|在|住)?\s*({_NUM})\s*(?:号|号楼|栋|单元|门|室|楼)?\s*(?:吧|啊|的)?\s*$")


@dataclass(frozen=True)
class Span:
    entity: str
    value: str
    start: int
    end: int


def chinese_number(text: str) -> int | None:
    """Reads "5", "五", "十二", "二十" — residents write building numbers both ways."""
    text = text.strip().translate(_FULLWIDTH)
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _CN_DIGITS and ch not in "十百" for ch in text):
        return None
    total, current = 0, 0
    for ch in text:
        if ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = current * 10 + _CN_DIGITS[ch]
    return total + current


def normalize_digits(text: str) -> str:
    """Full-width digits and rooms read digit by digit ("五零二") as ASCII digits, same length, so
    positions in the text stay where they were."""
    text = text.translate(_FULLWIDTH)
    return _CN_ROOM.sub(lambda m: "".join(str(_CN_DIGITS[ch]) for ch in m.group(0)), text)


def _number(text: str) -> str | None:
    value = chinese_number(text)
    return str(value) if value is not None and value > 0 else None


def normalize_phone(text: str) -> str | None:
    """Digits of a mainland mobile number, or None: anything else is not a number we can call back."""
    match = MOBILE_WRITTEN.search(text.translate(_FULLWIDTH))
    return "".join(match.groups()) if match else None


def normalize_ticket_id(text: str) -> str | None:
    return find_ticket_id(text.translate(_FULLWIDTH))


def bare_number(text: str) -> str | None:
    """The number in a short answer such as "6", "六号楼", "是6的": how residents answer a form question."""
    match = _BARE_NUMBER.match(text.translate(_FULLWIDTH))
    return _number(match.group(1)) if match else None


def extract(text: str, community_aliases: Iterable[tuple[str, str]] = ()) -> list[Span]:
    """All structured entities in ``text``; ``community_aliases`` is (alias, canonical name) pairs."""
    norm = normalize_digits(text)
    spans: list[Span] = []
    taken: list[tuple[int, int]] = []

    def add(entity: str, value: str | None, start: int, end: int) -> None:
        if value and not any(s < end and start < e for s, e in taken):
            spans.append(Span(entity, value, start, end))
            taken.append((start, end))

    for m in TICKET_ID_WRITTEN.finditer(norm):
        add("ticket_id", parse_ticket_id(m.group(0)), m.start(), m.end())
    for m in MOBILE_WRITTEN.finditer(norm):
        add("phone", "".join(m.groups()), m.start(), m.end())
    for m in _TRIPLE.finditer(norm):
        add("building", m.group(1), m.start(1), m.end(1))
        add("unit", m.group(2), m.start(2), m.end(2))
        add("room", m.group(3), m.start(3), m.end(3))
    for alias, canonical in sorted(community_aliases, key=lambda pair: -len(pair[0])):
        for m in re.finditer(re.escape(alias), norm):
            add("community", canonical, m.start(), m.end())
    for entity, pattern in (("building", _BUILDING), ("unit", _UNIT)):
        for m in pattern.finditer(norm):
            add(entity, _number(m.group(1)), m.start(), m.end())
    for pattern in (_ROOM_AFTER, _ROOM_MARKED, _ROOM_HOME):
        for m in pattern.finditer(norm):
            add("room", m.group(1), m.start(1), m.end(1))
    return sorted(spans, key=lambda span: span.start)
