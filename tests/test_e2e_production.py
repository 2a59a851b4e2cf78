"""The production layout end to end: Redis tracker and lock stores (each checked under its own key
prefix), tickets in PostgreSQL."""
from __future__ import annotations

import json
import re
import threading
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
    assert_tracker_in_redis(sender, "望园2号楼3单元电梯又坏了 困了个老人 电话138****9876")  # kept masked


#: Rasa's keys under the prefixes bot/runtime.py writes into the endpoints file ("linli" + kind):
#: RedisTrackerStore and RedisLockStore add ":tracker:" and ":lock:" and the conversation id.
TRACKER_KEY, LOCK_KEY = "linlitracker:tracker:{}", "linlilock:lock:{}"


def assert_tracker_in_redis(sender: str, said: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    stored = client.get(TRACKER_KEY.format(sender))
    assert stored is not None, f"no tracker at {TRACKER_KEY.format(sender)}: " + repr(client.keys(f"*{sender}*"))
    texts = [e.get("text") for e in json.loads(stored)["events"] if e.get("event") == "user"]
    assert said in texts, texts
    assert 0 < client.ttl(TRACKER_KEY.format(sender)) <= 7 * 86400, "record_exp: privacy.tracker_retention_days"
    client.close()


def test_a_turn_takes_the_conversation_lock_in_redis(production):
    """The lock store is Redis: while a turn runs Rasa writes the conversation's lock under the
    lock-store prefix and removes it when the turn is done. Seen through MONITOR, which reports
    every command the server executes, so a lock held for a few milliseconds cannot be missed."""
    stack, _ = production
    sender, stop = f"prod-lock-{uuid.uuid4().hex[:8]}", f"linli-monitor-stop-{uuid.uuid4().hex}"
    lock = LOCK_KEY.format(sender)
    commands: list[dict] = []
    watching = threading.Event()

    def watch() -> None:
        with redis.Redis.from_url(REDIS_URL).monitor() as monitor:  # MONITOR is on once this returns
            watching.set()
            for command in monitor.listen():
                if stop in command["command"]:
                    return
                if command.get("db") == 7 and lock in command["command"]:
                    commands.append(command)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert watching.wait(10), "MONITOR did not start"
    stack.texts(sender, "你好")
    redis.Redis.from_url(REDIS_URL).echo(stop)
    watcher.join(30)
    verbs = [c["command"].split()[0].upper() for c in commands]
    assert "SET" in verbs and "DEL" in verbs, verbs
    taken, released = verbs.index("SET"), max(i for i, verb in enumerate(verbs) if verb == "DEL")
    assert taken < released, f"taken, then released: {verbs}"
    assert not redis.Redis.from_url(REDIS_URL).exists(lock), "the lock outlived the turn"
    assert_tracker_in_redis(sender, "你好")
