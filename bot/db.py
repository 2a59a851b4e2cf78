"""SQL storage through SQLAlchemy: SQLite by default, PostgreSQL in production.

Engines are cached per URL so every store in a process shares one connection pool. SQLite runs in
WAL mode with a busy timeout, so the action server's threads and a CLI can write at the same time.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base

from bot.settings import get_settings

Base = declarative_base()
#: Modules that define tables; each feature adds its own module here rather than growing one file.
MODEL_MODULES = ("bot.models", "bot.people", "bot.delivery", "bot.followups", "bot.nudges")
_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    if url not in _engines:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, future=True, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, future=True, pool_pre_ping=True, pool_size=10, max_overflow=10)
        _engines[url] = engine
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


def init_db(engine: Engine | None = None) -> None:
    """Creates missing tables; safe to call from every process at start-up."""
    import importlib  # deferred: model modules import this one

    for module in MODEL_MODULES:
        importlib.import_module(module)
    Base.metadata.create_all(engine or get_engine())
