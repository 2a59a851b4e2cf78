"""The production layout end to end: Redis tracker and lock stores, tickets in PostgreSQL."""
from __future__ import annotations

import re
import uuid

import pytest
import redis
from sqlalchemy import create_engine

from bot.core.db import init_db
from bot.tickets.store import TicketStore
from tests.fixtures_db import scratch_schema
from tests.stack import start_stack

pytestmark = pytest.mark.slow
REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture(scope="module")
def production(tmp_path_factory, pg_schema):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is needed for this test and is not reachable: {error}")
    with scratch_schema(pg_schema) as url:
        engine = create_engine(url, future=True)
        init_db(engine)
        stack = start_stack(tmp_path_factory.mktemp("production"), database_url=url, redis_url=REDIS_URL)
        yield stack, TicketStore(engine=engine)
        stack.stop()
        redis.Redis.from_url(REDIS_URL).flushdb()  # database 7 belongs to this test alone
        engine.dispose()


def test_complaint_lands_in_postgresql_and_the_tracker_in_redis(production):
    stack, tickets = production
    sender = f"prod-{uuid.uuid4().hex[:8]}"
    stack.texts(sender, "望园2号楼3单元电梯又坏了 困了个老人 电话13812349876")
    reply = stack.texts(sender, "确认")
    ticket = tickets.get(re.search(r"GD\d{12}", reply).group(0))
    assert (ticket.category, ticket.handler_name, ticket.deadline_class) == ("elevator", "金管家物业", "emergency")
    keys = redis.Redis.from_url(REDIS_URL).keys(f"*{sender}*")
    assert keys, "the conversation's tracker is not in Redis"
