"""Who a proactive message goes to, and who among staff is told what (from the staff file)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bot.config.staff import StaffFile, staff_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    """Who a proactive message goes to: a Rasa output channel name and a conversation id."""

    channel: str
    conversation_id: str


@dataclass(frozen=True)
class StaffRecipients:
    """Who gets staff notices, by the rules in the staff file's comments."""

    street: tuple[Recipient, ...]
    communities: dict
    handlers: dict
    digest: tuple[Recipient, ...]

    @classmethod
    def of(cls, members) -> "StaffRecipients":
        told = [m for m in members if m.notices]

        def reached(members_) -> tuple[Recipient, ...]:
            return tuple(Recipient(m.channel, m.id) for m in members_)

        names = dict.fromkeys(name for m in told for name in m.communities)
        handlers = dict.fromkeys(name for m in told for name in m.handlers)
        return cls(street=reached(m for m in told if not m.communities and not m.handlers),
                   communities={n: reached(m for m in told if n in m.communities and not m.handlers) for n in names},
                   handlers={n: reached(m for m in told if n in m.handlers) for n in handlers},
                   digest=reached(m for m in told if m.digest))


class StaffNotices:
    """Who gets staff notices, from the staff file as it is now: recomputed when the file changes."""

    def __init__(self, path: Path) -> None:
        self.file = StaffFile(path)
        self._stamp: Optional[tuple[int, int]] = None
        self._current: Optional[StaffRecipients] = None

    def current(self) -> StaffRecipients:
        members = self.file.members()
        if self._current is None or self._stamp != self.file.stamp:
            self._current, self._stamp = StaffRecipients.of(members), self.file.stamp
        return self._current


def supervision_level(ticket) -> str:
    """督办: the community supervises property companies and owner units, the street supervises
    communities and departments."""
    return "community" if ticket.handler_kind in ("property_company", "owner_unit") else "street"


class Recipients:
    """Who among staff is told what, from the staff file as it is now (see its comments)."""

    def __init__(self, staff: StaffNotices, street_after_failed: int) -> None:
        self.staff = staff
        self.street_after_failed = street_after_failed

    @property
    def street(self) -> tuple[Recipient, ...]:
        return self.staff.current().street

    @property
    def communities(self) -> dict:
        return self.staff.current().communities

    @property
    def handlers(self) -> dict:
        return self.staff.current().handlers

    @property
    def digest(self) -> tuple[Recipient, ...]:
        return self.staff.current().digest

    def community_staff(self, community: Optional[str]) -> tuple[Recipient, ...]:
        return self.communities.get(community or "") or self.street

    def handler_staff(self, ticket) -> tuple[Recipient, ...]:
        """The handler's own duty account, else whoever coordinates it (community, or street)."""
        if ticket.handler_name in self.handlers:
            return self.handlers[ticket.handler_name]
        if ticket.handler_kind == "department":
            return self.street
        return self.community_staff(ticket.community)

    def supervisors(self, ticket, failed_followups: int = 1) -> tuple[Recipient, ...]:
        """The handler's supervisors; from the ``street_after_failed``-th failed follow-up on, the
        street as well."""
        own = self.community_staff(ticket.community) if supervision_level(ticket) == "community" else self.street
        if failed_followups >= self.street_after_failed:
            return tuple(dict.fromkeys(own + self.street))
        return own


def recipients_for(policy, path: Path | None = None) -> Recipients:
    """Staff recipients from the staff file (default ``LINLI_STAFF_FILE``), re-read when it changes."""
    return Recipients(StaffNotices(Path(path or staff_file())), policy.street_after_failed)
