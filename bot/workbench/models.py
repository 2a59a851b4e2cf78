"""The workbench's tables, on ``bot.core.db.Base`` like every other feature's (``init_db`` creates
them: the module is in ``MODEL_MODULES``). :func:`init_tables` also adds the queue's index
(``bot.tickets.models.QUEUE_INDEX``) to a tickets table made before the index existed."""
from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Text, text

from bot.core.db import Base, UtcDateTime, get_engine, init_db
from bot.tickets.models import QUEUE_INDEX


class SignInLink(Base):
    """A one-time sign-in link: only the SHA-256 of its token is kept; used once, within minutes."""

    __tablename__ = "console_links"

    token_hash = Column(String(64), primary_key=True)
    role = Column(String(16), nullable=False)  # staff | handler
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
    role = Column(String(16), nullable=False)
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
    role = Column(String(16))
    channel = Column(String(32))
    sender_id = Column(String(128))
    action = Column(String(32), nullable=False)  # sign_in, sign_out, ticket_resolve, broadcast_send, export_csv ...
    ticket_id = Column(String(16), index=True)
    target = Column(String(128))  # a broadcast id, a rider's key, a misunderstood message id
    outcome = Column(String(16), nullable=False)  # ok | refused
    detail = Column(Text)
    ip = Column(String(64))


class TicketAttachment(Base):
    """A photo staff uploaded on the workbench (with a resolution). The ticket's own ``photos`` are
    the resident's; there is no store call to add more, so uploads are listed here with the history
    step they belong to (to move into the ticket store: see the package's report)."""

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
    reason = Column(String(16), nullable=False, default="fallback")  # fallback | corrected (the resident said "不对")
    message_id = Column(String(64), unique=True)  # Rasa's id of the user message: each is kept once
    status = Column(String(16), nullable=False, default="new")  # new | labelled | exported | ignored
    label_intent = Column(String(64))
    label_category = Column(String(32))
    labelled_by = Column(String(200))
    labelled_at = Column(UtcDateTime)
    exported_at = Column(UtcDateTime)

    __table_args__ = (Index("ix_misunderstood_status", "status", "at"),)


TABLES = [SignInLink.__table__, ConsoleSession.__table__, AuditEntry.__table__, TicketAttachment.__table__,
          MisunderstoodMessage.__table__]


def init_tables(engine=None) -> None:
    """Linli's tables and the workbench's, safe from several processes at once (same lock as init_db)."""
    engine = engine or get_engine()
    init_db(engine)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            from bot.core.db import _SCHEMA_LOCK_KEY

            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        Base.metadata.create_all(connection, tables=TABLES)
        QUEUE_INDEX.create(connection, checkfirst=True)  # a tickets table made before the index was
        connection.commit()
