"""SQL storage through SQLAlchemy: SQLite by default, PostgreSQL in production.

Engines are cached per URL so every store in a process shares one connection pool. SQLite runs in
WAL mode with a busy timeout, so the action server's threads and a CLI can write at the same time;
PostgreSQL goes through psycopg2.
"""
from __future__ import annotations

import importlib
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Iterator

from sqlalchemy import DateTime, String, create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from bot.core.settings import get_settings

Base = declarative_base()


#: Modules that define tables; each feature adds its own module here rather than growing one file.
MODEL_MODULES = ("bot.tickets.models", "bot.callbacks.models", "bot.people.models", "bot.volunteers.models",
                 "bot.volunteers.nudges", "bot.messaging.delivery", "bot.workflows.followups",
                 "bot.workflows.deadline_watch", "bot.workflows.progress", "bot.broadcasts.models",
                 "bot.workbench.models", "bot.handlers.models", "bot.proactive.models")
SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK_KEY = 0x4C494E4C49  # "LINLI": the advisory lock init_db holds on PostgreSQL
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class UtcDateTime(TypeDecorator):
    """A moment stored as UTC and always read back tz-aware, on every backend.

    SQLite keeps no zone: it would store a Beijing-aware 10:00 as "10:00" and hand back a naive
    value, which the rest of the code would then take for 10:00 UTC. Naive values are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect) -> datetime | None:
        return _utc(value)

    def process_result_value(self, value: datetime | None, _dialect) -> datetime | None:
        return _utc(value)


class StrEnum(str, Enum):
    """A set of stored values (a status): each member equals, hashes and prints as its string, as
    Python 3.11's ``StrEnum`` does, so ``{"sent": …}[DeliveryStatus.SENT]`` and ``f"{status}"`` keep working."""

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return str.__str__(self)


class EnumString(TypeDecorator):
    """A status column: a plain ``VARCHAR`` holding the enum's values (so the stored data is unchanged),
    read back as members; writing anything else fails before it reaches the database."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value, _dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, _dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _normalized(url: str) -> URL:
    """``postgres://`` (as hosting providers write it) means psycopg2 too; SQLAlchemy 1.4 refuses it."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _create(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, future=True, pool_pre_ping=True, pool_size=10, max_overflow=10)
    if url.database in (None, "", ":memory:") or "mode=memory" in str(url):
        # The action server, the Rasa processes and the scheduler would each see their own empty one.
        raise ValueError(f"{url}: Linli's processes share one database; give SQLite a file, "
                         "e.g. sqlite:///var/linli.db")
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # SQLAlchemy 1.4 gives a file database a NullPool: every session would open a connection, run the
    # PRAGMAs and close it (closing the last one checkpoints the WAL) - a third of a form turn's CPU in
    # bench/PROFILE.md. Pooled connections set the PRAGMAs once each.
    engine = create_engine(url, future=True, poolclass=QueuePool, pool_size=5, max_overflow=10,
                           connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for a URL (default: ``LINLI_DATABASE_URL``), created on first use."""
    url = url or get_settings().database_url
    with _engines_lock:
        if url not in _engines:
            _engines[url] = _create(_normalized(url))
        return _engines[url]


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises."""
    session = Session(engine or get_engine(), future=True, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def room_to_hash(session: Session, megabytes: int = 32) -> None:
    """Lets PostgreSQL hash this transaction's large aggregates in memory: with the default
    work_mem it sorts 100,000 tickets on disk instead (a report's counts, the queue's filters). A
    no-op elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{int(megabytes)}MB'"))


def import_models() -> None:
    """Imports every model module, so ``Base.metadata`` holds every table (they import this module)."""
    for module in MODEL_MODULES:
        importlib.import_module(module)


def init_db(engine: Engine | None = None) -> None:
    """Brings the schema to the newest migration; safe to call from every process at start-up, even all at once.

    Processes starting together would each find a revision missing and the slower ones would fail
    applying it, so migrations run under a database-wide lock: SQLite's write lock, or a PostgreSQL
    advisory lock held until the transaction ends. A database made by ``create_all`` before
    migrations existed is adopted by the first revision, which creates only what is missing.
    """
    from bot.core import migrations  # its env imports this module

    engine = engine or get_engine()
    with engine.connect() as connection:
        schema_lock(connection)
        migrations.upgrade(connection)
        connection.commit()


def schema_lock(connection: Connection) -> None:
    """Holds the database-wide schema lock until the connection's transaction ends."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
