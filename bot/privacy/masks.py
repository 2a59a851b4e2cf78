"""Masks for phone numbers, room numbers, sender ids and free text: what may be shown where others see it."""
from __future__ import annotations

import re
from typing import Optional, overload

from bot.core.text import MOBILE_WRITTEN
from bot.nlu.address import extract


@overload
def mask_phone(phone: str) -> str: ...
@overload
def mask_phone(phone: None) -> None: ...
@overload
def mask_phone(phone: Optional[str]) -> Optional[str]: ...


def mask_phone(phone: Optional[str]) -> Optional[str]:
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) >= 7 else phone


@overload
def mask_room(room: str) -> str: ...
@overload
def mask_room(room: None) -> None: ...
@overload
def mask_room(room: Optional[str]) -> Optional[str]: ...


def mask_room(room: Optional[str]) -> Optional[str]:
    """Keeps the floor digit only: enough for the resident to recognise, useless to a stranger."""
    return room[0] + "*" * (len(room) - 1) if room else room


def mask_text(text: str) -> str:
    """A resident's own words, safe to echo: phone and room numbers in it are masked."""
    masks = {"phone": lambda raw: mask_phone(re.sub(r"\D", "", raw)), "room": mask_room}
    for span in sorted(extract(text), key=lambda s: -s.start):
        if span.entity in masks:
            text = text[:span.start] + masks[span.entity](text[span.start:span.end]) + text[span.end:]
    return text


def mask_sender(sender_id: str) -> str:
    """Enough to tell two reporters apart in one list, not to find or contact them; the length of
    the id is hidden too."""
    keep = 2 if len(sender_id) >= 8 else 1 if len(sender_id) >= 4 else 0
    return f"{sender_id[:keep]}****{sender_id[len(sender_id) - keep:] if keep else ''}"


def phones_in(text: Optional[str]) -> list[str]:
    """The mobile numbers written in ``text``, as 11 digits, in order."""
    return ["".join(match.groups()) for match in MOBILE_WRITTEN.finditer(text or "")]


def mask_phones(text: str) -> str:
    """Mobile numbers in any text (a log line, a stored conversation) masked; nothing else changed.
    A plain pattern, not the NLU rules of :func:`mask_text`: it runs on every log record."""
    return MOBILE_WRITTEN.sub(lambda m: mask_phone("".join(m.groups())), text) if text else text
