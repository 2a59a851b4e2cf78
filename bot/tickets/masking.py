"""What is stored in words others read is masked: the full phone lives only in a ticket's phone field.

A description, a note or a call-back request is shown to people who may not see the reporter's
phone or room (followers, staff of other steps, report readers), so phone and room numbers in them
are masked when they are written. A phone a resident wrote only in their description is not lost:
it becomes the ticket's phone when none was given.
"""
from __future__ import annotations

from typing import Optional, overload

from sqlalchemy import select

from bot.privacy.masks import mask_text, phones_in
from bot.tickets.models import Ticket


@overload
def masked_words(text: str) -> str: ...
@overload
def masked_words(text: Optional[str]) -> Optional[str]: ...


def masked_words(text: Optional[str]) -> Optional[str]:
    """Words people other than the reporter read, as they are stored: phones and rooms masked."""
    return mask_text(text) if text else text


def kept_private(description: str, phone: Optional[str]) -> tuple[str, Optional[str]]:
    """(the description as stored, the ticket's phone): a phone written in the description moves to
    the phone field when that is empty, and the description keeps only its masked form."""
    return masked_words(description), phone or next(iter(phones_in(description)), None)


def mask_existing(session) -> int:
    """Masks tickets written before descriptions were masked (call-back notes:
    ``bot.callbacks.store.mask_existing_notes``), in the caller's transaction; returns how many rows
    changed. Running it again changes nothing.
    The ticket history is append-only and keeps what it said (its notes are masked when shown)."""
    changed = 0
    for ticket in session.execute(select(Ticket)).scalars():
        description, phone = kept_private(ticket.description, ticket.phone)
        if (description, phone) != (ticket.description, ticket.phone):
            ticket.description, ticket.phone = description, phone
            changed += 1
    return changed
