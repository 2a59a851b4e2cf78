"""Database fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL is 127.0.0.1:5432, database `test`, user `postgres` (override with LINLI_TEST_PG_URL).
Each test gets its own schema, named after the session's prefix and dropped afterwards; the session
drops whatever is left under its prefix at the end. An unreachable server fails the tests: it never
skips them.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.core import db
from bot.core.clock import ManualClock
from bot.tickets.store import TicketStore

PG_URL = os.environ.get("LINLI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: A Sunday noon in Beijing: store tests start from here unless they move the clock.
NOON_BEIJING = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)


def schema_url(schema: str) -> str:
    """PG_URL with every connection's search_path set at connect time by the server itself: a
    ``SET`` issued from a connect hook is undone when that connection's first transaction rolls back."""
    return str(make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}))


def _admin():
    return create_engine(PG_URL, future=True, pool_size=1, max_overflow=0)


@contextmanager
def scratch_schema(prefix: str, keep: bool = False) -> Iterator[str]:
    """A PostgreSQL schema of its own for one test module or benchmark run: yields the URL that
    reaches it, drops it afterwards unless ``keep``."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield schema_url(schema)
    finally:
        if not keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_schema():
    """This session's schema prefix (a schema by that name exists too, for tests that want one)."""
    schema = f"linli_test_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 - whatever keeps us from the server
        admin.dispose()
        pytest.fail(f"these tests need PostgreSQL at {PG_URL} (set LINLI_TEST_PG_URL to use another); "
                    f"it is not reachable: {error}", pytrace=False)
    yield schema
    with admin.begin() as connection:
        leftovers = connection.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :prefix"),
                                       {"prefix": f"{schema}%"}).scalars().all()
        for name in leftovers:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = db.get_engine(f"sqlite:///{tmp_path / 'var' / 'tickets.db'}")
    db.init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_schema):
    """A fresh schema, through the same get_engine the product uses."""
    with scratch_schema(pg_schema) as url:
        engine = db.get_engine(url)
        db.init_db(engine)
        yield engine
        engine.dispose()


@pytest.fixture(params=["sqlite", "pg"])
def engine(request):
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def clock():
    return ManualClock(NOON_BEIJING)


@pytest.fixture
def store(engine, clock):
    """A ticket store on each backend in turn, on the bundled sample directory."""
    return TicketStore(engine=engine, clock=clock)
