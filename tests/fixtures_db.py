"""Database fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL is 127.0.0.1:5432, database `test` (override with LINLI_TEST_PG_URL); each test session
works in its own schema and drops it afterwards. An unreachable server fails the tests, never skips.
"""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, event, text

from bot.db import get_engine, init_db

PG_URL = os.environ.get("LINLI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'tickets.db'}")
    init_db(engine)
    return engine


@pytest.fixture(scope="session")
def pg_schema():
    admin = create_engine(PG_URL, future=True)
    schema = f"linli_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 - any failure to reach the server
        pytest.fail(f"PostgreSQL at {PG_URL} is needed for these tests and is not reachable: {error}")
    yield schema
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_schema):
    """A fresh schema per test, on an engine whose connections default to it."""
    schema = f"{pg_schema}_{uuid.uuid4().hex[:6]}"
    engine = create_engine(PG_URL, future=True, pool_size=10, max_overflow=10)

    @event.listens_for(engine, "connect")
    def _search_path(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        cursor.close()

    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    init_db(engine)
    yield engine
    engine.dispose()
    with create_engine(PG_URL, future=True).begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", "pg"])
def engine(request):
    return request.getfixturevalue(f"{request.param}_engine")
