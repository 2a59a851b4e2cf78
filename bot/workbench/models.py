"""The workbench's tables, on ``bot.core.db.Base`` like every other feature's (listed in
``MODEL_MODULES``, so the migrations create them)."""
from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Text

from bot.core.db import Base, EnumString, StrEnum, UtcDateTime, get_engine, init_db


class MisunderstoodStatus(StrEnum):
    NEW = "new"
    LABELLED = "labelled"
    EXPORTED = "exported"
    IGNORED = "ignored"


class ConsoleRole(StrEnum):
    STAFF = "staff"
    HANDLER = "handler"


class AuditOutcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"


class MisunderstoodReason(StrEnum):
    FALLBACK = "fallback"
    CORRECTED = "corrected"  # the resident said "不对"


class SignInLink(Base):
    """A one-time sign-in link: only the SHA-256 of its token is kept; used once, within minutes."""

    __tablename__ = "console_links"

    token_hash = Column(String(64), primary_key=True)
    role = Column(EnumString(ConsoleRole), nullable=False)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(128), nullable=False)
    created_at = Column(UtcDateTime, nullable=False)
    expires_at = Column(UtcDateTime, nullable=False)
    used_at = Column(UtcDateTime)
    used_ip = Column(String(64))


class ConsoleSession(Base):
    """A signed-in browser. The cookie holds a random token; the row holds its hash. The subject's
    role and scope are not trusted from here: they are asked of the roster on every request."""

    __tablename__ = "console_sessions"

    token_hash = Column(String(64), primary_key=True)
    role = Column(EnumString(ConsoleRole), nullable=False)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(128), nullable=False)
    csrf = Column(String(64), nullable=False)
    created_at = Column(UtcDateTime, nullable=False)
    expires_at = Column(UtcDateTime, nullable=False)
    last_seen_at = Column(UtcDateTime, nullable=False)
    ended_at = Column(UtcDateTime)
    ip = Column(String(64))


class AuditEntry(Base):
    """Every action taken on the workbench, refused ones too: who, what, which ticket, when, from where."""

    __tablename__ = "console_audit"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(UtcDateTime, nullable=False, index=True)
    role = Column(EnumString(ConsoleRole))
    channel = Column(String(32))
    sender_id = Column(String(128))
    action = Column(String(32), nullable=False)  # sign_in, sign_out, ticket_resolve, broadcast_send, export_csv ...
    ticket_id = Column(String(16), index=True)
    target = Column(String(128))  # a broadcast id, a rider's key, a misunderstood message id
    outcome = Column(EnumString(AuditOutcome), nullable=False)
    detail = Column(Text)
    ip = Column(String(64))


class TicketAttachment(Base):
    """A photo uploaded on the workbench before uploads went into the ticket history (still shown).
    New uploads are a ``handler_photos`` step written through the ticket store, as the chat's 反馈
    writes its photos (``bot.workbench.actions.record_photo``); nothing writes here any more."""

    __tablename__ = "console_attachments"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(16), nullable=False, index=True)
    path = Column(String(512), nullable=False)  # under LINLI_VAR_DIR/workbench/photos
    action = Column(String(32), nullable=False)
    uploaded_by = Column(String(200), nullable=False)
    at = Column(UtcDateTime, nullable=False)


class MisunderstoodMessage(Base):
    """A message the assistant did not understand (a fallback) or that the resident said it got wrong
    ("不对"), kept masked, for staff to label; labelled ones are exported as training data
    (`linli nlu export`)."""

    __tablename__ = "misunderstood_messages"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(UtcDateTime, nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    sender = Column(String(64), nullable=False)  # masked (bot.period_report.mask_sender): counts repeats, finds nobody
    text = Column(Text, nullable=False)  # masked (phones, rooms)
    guessed_intent = Column(String(64))
    guessed_category = Column(String(32))
    confidence = Column(Float)
    reason = Column(EnumString(MisunderstoodReason), nullable=False, default=MisunderstoodReason.FALLBACK,
                    server_default=MisunderstoodReason.FALLBACK.value)
    message_id = Column(String(64), unique=True)  # Rasa's id of the user message: each is kept once
    status = Column(EnumString(MisunderstoodStatus), nullable=False, default=MisunderstoodStatus.NEW)
    label_intent = Column(String(64))
    label_category = Column(String(32))
    labelled_by = Column(String(200))
    labelled_at = Column(UtcDateTime)
    exported_at = Column(UtcDateTime)

    __table_args__ = (Index("ix_misunderstood_status", "status", "at"),)


def init_tables(engine=None) -> None:
    """Linli's tables and the workbench's: the schema at its newest migration."""
    init_db(engine or get_engine())
