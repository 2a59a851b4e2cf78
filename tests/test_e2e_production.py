"""The production layout end to end: Redis tracker and lock stores, tickets in PostgreSQL."""
from __future__ import annotations

import re
import uuid

import pytest
import redis
from sqlalchemy import create_engine, text

from bot.db import init_db
from bot.tickets import TicketStore
from tests.fixtures_db import PG_URL
from tests.stack import start_stack

pytestmark = pytest.mark.slow
REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is needed for this test and is not reachable: {error}")
    schema = f"linli_e2e_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, future=True)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 - any failure to reach the server
        pytest.fail(f"PostgreSQL at {PG_URL} is needed for this test and is not reachable: {error}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = create_engine(url, future=True)
    init_db(engine)
    stack = start_stack(tmp_path_factory.mktemp("production"), database_url=url, redis_url=REDIS_URL)
    yield stack, TicketStore(engine=engine)
    stack.stop()
    redis.Redis.from_url(REDIS_URL).flushdb()  # database 7 belongs to this test alone
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_complaint_lands_in_postgresql_and_the_tracker_in_redis(production):
    stack, tickets = production
    sender = f"prod-{uuid.uuid4().hex[:8]}"
    stack.texts(sender, "望园2号楼3单元电梯又坏了 困了个老人 电话13812349876")
    reply = stack.texts(sender, "确认")
    ticket = tickets.get(re.search(r"GD\d{12}", reply).group(0))
    assert (ticket.category, ticket.handler_name, ticket.deadline_class) == ("elevator", "金管家物业", "emergency")
    keys = redis.Redis.from_url(REDIS_URL).keys(f"*{sender}*")
    assert keys, "the conversation's tracker is not in Redis"
