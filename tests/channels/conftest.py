"""Channel test harness: platform stand-ins, a fake dialogue core, and channels served by Sanic.

The channel under test is registered on a Sanic app exactly as ``rasa run`` registers it
(``rasa.core.channels.channel.register``) and served on a real port; ``FakeCore`` plays
``agent.handle_message``: it records each ``UserMessage`` and answers through its output channel.
"""
from __future__ import annotations

import itertools
import uuid
from typing import Any, Optional

import pytest
import redis
from rasa.core.channels.channel import InputChannel, register
from sanic import Sanic

from tests.channels.harness import ChannelServer, FakeCore
from tests.standins.server import Running, serve_sanic

REDIS_URL = "redis://127.0.0.1:6379/0"
_apps = itertools.count()


@pytest.fixture
async def serve_channel():
    """``await serve_channel(channel, core)`` → a running server; all stopped after the test."""
    servers: list[Running] = []

    async def start(channel: InputChannel, core: Optional[FakeCore] = None) -> ChannelServer:
        Sanic.test_mode = True
        app = Sanic(f"linli_channel_test_{next(_apps)}")
        app.ctx.agent = core = core or FakeCore()
        register([channel], app, "/webhooks/")
        running = await serve_sanic(app)
        servers.append(running)
        return ChannelServer(running, channel, core)

    yield start
    for running in servers:
        await running.stop()


@pytest.fixture
def redis_url() -> Any:
    """The shared Redis on 127.0.0.1:6379; keys written under a unique tag are removed afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({error}); start it to run the channel tests")
    tag = str(uuid.uuid4().int)[:12]  # digits: usable inside bot ids and app ids
    yield REDIS_URL, tag
    for key in client.scan_iter(match=f"*{tag}*"):
        client.delete(key)
    client.close()
