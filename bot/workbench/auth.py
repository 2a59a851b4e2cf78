"""Sign-in without passwords: one-time links, sessions, who is asking (the subject), and the audit log.

A link is issued to a staff member named on the roster (``linli console link``, later the chat
command /登录 through :func:`issue_link`). Its token is random, only its SHA-256 is stored, it is
valid for ``link_valid_minutes`` and can be redeemed once (a compare-and-set, so two tabs racing
get one session). Opening the link shows a button; only pressing it (a POST) redeems the token, so
a chat app that previews links does not use it up.

A session's cookie is another random token, stored hashed, HttpOnly, SameSite=Lax, Secure over
https. Its subject is (role, channel, id, scope): staff's scope is the communities they serve (empty:
the whole street), a handler's the handler's name. The role and scope are asked of the roster on
every request, so someone taken off the staff file loses the workbench at once.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

from sqlalchemy import select, update

from bot.config import staff
from bot.core.db import session_scope
from bot.core.errors import PlainUserError
from bot.handlers import contacts as handler_contacts
from bot.people import roster
from bot.workbench.config import ConsoleConfig, get_config, public_url
from bot.workbench.models import AuditEntry, ConsoleRole, ConsoleSession, SignInLink

Clock = Callable[[], datetime]
ROLES = tuple(role.value for role in ConsoleRole)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SignInError(PlainUserError):
    """A link or session that opens nothing; ``user_message`` is the page's words."""


@dataclass(frozen=True)
class Subject:
    """Who is using the workbench, checked on this request."""

    role: str  # staff | handler
    channel: str
    sender_id: str
    scope: tuple[str, ...]  # staff: communities served (empty: the whole street); handler: (its name,)
    name: str = ""
    csrf: str = ""
    session_hash: str = ""

    @property
    def actor(self) -> str:
        """How the ticket history names them: the same as a chat command's (``staff:wecom:id``)."""
        return f"{self.role}:{self.channel}:{self.sender_id}"

    @property
    def whole_street(self) -> bool:
        return self.role == "staff" and not self.scope

    def serves(self, community: Optional[str]) -> bool:
        """Staff: the ticket's community is one they serve (or they serve the whole street)."""
        return self.role == "staff" and (not self.scope or community in self.scope)

    def sees(self, community: Optional[str], handler_name: Optional[str]) -> bool:
        """May read (and act on) a ticket of this community and handler."""
        if self.role == "staff":
            return self.serves(community)
        return self.role == "handler" and bool(self.scope) and handler_name == self.scope[0]

    def as_staff(self) -> roster.Staff:
        return roster.Staff(self.channel, self.sender_id, self.scope)


# -- who may sign in --------------------------------------------------------------------------------

def find_staff(who: str, engine) -> staff.StaffMember:
    """A staff member as an admin names them: ``CHANNEL:ID`` or their name on the roster."""
    who = (who or "").strip()
    members = staff.load_staff()
    channel, _, sender_id = who.partition(":")
    found = [m for m in members if (m.channel, m.id) == (channel, sender_id)] if sender_id else []
    found = found or [m for m in members if m.name and m.name == who]
    if not found:
        raise SignInError(f"工作人员名单里没有“{who[:40]}”：请写 渠道:账号（如 wecom:wangyuan-office）或名单上的姓名。")
    if len(found) > 1:
        raise SignInError(f"名单上叫“{who[:40]}”的不止一位，请写 渠道:账号。")
    member = found[0]
    if roster.authorize(member.channel, member.id, engine) is None:
        raise SignInError(f"{member.channel}:{member.id} 还没有同步为工作人员，请先运行 linli staff sync。")
    return member


def subject_for(role: str, channel: str, sender_id: str, engine) -> Optional[Subject]:
    """The subject as the roster says now, or None when they may no longer sign in."""
    if role == "staff":
        member = roster.authorize(channel, sender_id, engine)
        if member is None:
            return None
        name = next((m.name for m in roster.members() if m.key == (channel, sender_id)), "")
        return Subject("staff", channel, sender_id, tuple(member.communities), name)
    if role == "handler":
        return handler_subject(channel, sender_id, engine)
    return None


def handler_subject(channel: str, sender_id: str, engine) -> Optional[Subject]:
    """A handler's contact in the handlers file (property company, owner unit, department) as a
    subject whose scope is the handler's name: its own tickets only. The first handler listing this
    identity wins (one person on two handlers' lists signs in for the first)."""
    contact = handler_contact(channel, sender_id)
    return Subject("handler", channel, sender_id, (contact.handler,), contact.label) if contact else None


def handler_contact(channel: str, sender_id: str) -> Optional[handler_contacts.Contact]:
    """The first handler's contact with this identity, or None (also names them in the history)."""
    for contacts in handler_contacts.current().handlers().values():
        for contact in contacts:
            if contact.key == (channel, sender_id):
                return contact
    return None


# -- links ---------------------------------------------------------------------------------------

def create_link(engine, role: str, channel: str, sender_id: str, now: datetime,
                config: Optional[ConsoleConfig] = None) -> str:
    """Stores a new link's hash and returns its token (shown once, never stored)."""
    config = config or get_config()
    if role not in ROLES:
        raise ValueError(f"unknown role {role}")
    token = secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        session.add(SignInLink(token_hash=hash_token(token), role=role, channel=channel, sender_id=sender_id,
                               created_at=now, expires_at=now + timedelta(minutes=config.link_valid_minutes)))
    return token


def link_url(token: str) -> str:
    return f"{public_url()}/login?t={token}"


def issue_link(channel: str, sender_id: str, engine=None, now: Optional[datetime] = None) -> str:
    """The one-time sign-in link (what /登录 in chat replies with) for a staff member, or else for a
    handler's contact (their own tickets only); refuses anyone else with :class:`SignInError`."""
    from bot.core.db import get_engine

    engine = engine or get_engine()
    if roster.authorize(channel, sender_id, engine) is not None:
        role = "staff"
    elif handler_subject(channel, sender_id, engine) is not None:
        role = "handler"
    else:
        raise SignInError(get_config().messages["not_staff"])
    now = now or _utcnow()
    token = create_link(engine, role, channel, sender_id, now)
    audit(engine, None, "link_issued", now, target=f"{channel}:{sender_id}", subject_override=(role, channel, sender_id))
    return link_url(token)


def peek_link(engine, token: str, now: datetime) -> str:
    """``valid``, ``used_or_expired`` or ``unknown``, without using the link (the confirmation page)."""
    with session_scope(engine) as session:
        row = session.get(SignInLink, hash_token(token or ""))
        if row is None:
            return "unknown"
        return "valid" if row.used_at is None and row.expires_at > now else "used_or_expired"


def redeem(engine, token: str, now: datetime, ip: Optional[str], config: Optional[ConsoleConfig] = None
           ) -> tuple[str, Subject]:
    """Uses the link (once) and opens a session; returns (session token for the cookie, subject)."""
    config = config or get_config()
    digest = hash_token(token or "")
    with session_scope(engine) as session:
        used = session.execute(update(SignInLink).where(
            SignInLink.token_hash == digest, SignInLink.used_at.is_(None), SignInLink.expires_at > now)
            .values(used_at=now, used_ip=(ip or "")[:64])).rowcount
        row = session.get(SignInLink, digest)
    if not used:
        raise SignInError(config.messages["link_unknown" if row is None else "link_refused"])
    subject = subject_for(row.role, row.channel, row.sender_id, engine)
    if subject is None:
        raise SignInError(config.messages["not_staff"])
    session_token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    with session_scope(engine) as session:
        session.add(ConsoleSession(token_hash=hash_token(session_token), role=row.role, channel=row.channel,
                                   sender_id=row.sender_id, csrf=csrf, created_at=now,
                                   expires_at=now + timedelta(hours=config.session_hours), last_seen_at=now,
                                   ip=(ip or "")[:64]))
    return session_token, Subject(subject.role, subject.channel, subject.sender_id, subject.scope, subject.name,
                                  csrf, hash_token(session_token))


# -- sessions ------------------------------------------------------------------------------------

def current(engine, session_token: Optional[str], now: datetime, config: Optional[ConsoleConfig] = None
            ) -> Subject:
    """The subject of a live session, checked against the roster now; :class:`SignInError` otherwise."""
    config = config or get_config()
    if not session_token:
        raise SignInError(config.messages["session_needed"])
    digest = hash_token(session_token)
    idle = timedelta(minutes=config.idle_minutes)
    with session_scope(engine) as session:
        row = session.get(ConsoleSession, digest)
        if row is None or row.ended_at is not None or row.expires_at <= now or row.last_seen_at + idle <= now:
            raise SignInError(config.messages["session_needed"])
        role, channel, sender_id, csrf = row.role, row.channel, row.sender_id, row.csrf
        if now - row.last_seen_at > timedelta(seconds=30):  # one write a minute at most, not one per request
            row.last_seen_at = now
    subject = subject_for(role, channel, sender_id, engine)
    if subject is None:
        end(engine, session_token, now)
        raise SignInError(config.messages["not_staff"])
    return Subject(subject.role, subject.channel, subject.sender_id, subject.scope, subject.name, csrf, digest)


def end(engine, session_token: Optional[str], now: datetime) -> bool:
    if not session_token:
        return False
    with session_scope(engine) as session:
        return bool(session.execute(update(ConsoleSession).where(
            ConsoleSession.token_hash == hash_token(session_token), ConsoleSession.ended_at.is_(None))
            .values(ended_at=now)).rowcount)


def csrf_ok(subject: Subject, given: Optional[str]) -> bool:
    return bool(given) and hmac.compare_digest(subject.csrf.encode(), str(given).encode())


# -- audit ---------------------------------------------------------------------------------------

def audit(engine, subject: Optional[Subject], action: str, now: datetime, *, ticket_id: Optional[str] = None,
          target: Optional[str] = None, outcome: str = "ok", detail: Optional[str] = None,
          ip: Optional[str] = None, subject_override: Optional[tuple[str, str, str]] = None) -> None:
    role, channel, sender_id = subject_override or ((subject.role, subject.channel, subject.sender_id)
                                                    if subject else (None, None, None))
    with session_scope(engine) as session:
        session.add(AuditEntry(at=now, role=role, channel=channel, sender_id=sender_id, action=action[:32],
                               ticket_id=ticket_id, target=(target or None) and str(target)[:128], outcome=outcome,
                               detail=(detail or None) and str(detail)[:2000], ip=(ip or None) and ip[:64]))


def audit_entries(engine, limit: int = 100, ticket_id: Optional[str] = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if ticket_id:
        query = query.where(AuditEntry.ticket_id == ticket_id)
    with session_scope(engine) as session:
        return list(session.execute(query).scalars())
