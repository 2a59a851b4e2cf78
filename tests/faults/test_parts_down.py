"""A part of the stack dies in the middle of a resident's report: the resident hears that the system
is busy, nothing half-done is kept, and confirming again (once the part is back) gives exactly one
ticket, the same one however often the confirmation is repeated or its tracker lost."""
from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, select

from bot.config.runtime import runtime_config
from bot.tickets.models import Ticket
from tests.faults.conftest import kill, restart_action_server
from tests.stack import start_stack, ticket_id_in

pytestmark = pytest.mark.slow



def report(building: int) -> str:
    """A complete complaint, each test in its own building (else it would be offered the other's
    ticket as the same problem)."""
    return f"万柳西园{building}号楼2单元502屋顶漏水了，下雨就往下滴，电话13812345678"
TOKEN = "faults-token"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("faults"), api_token=TOKEN)
    yield running
    running.stop()


@pytest.fixture
def tickets_of(stack):
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)

    def tickets(sender: str) -> list[str]:
        with engine.connect() as connection:
            return list(connection.execute(select(Ticket.id).where(Ticket.reporter_id == sender)).scalars())
    yield tickets
    engine.dispose()


def events(stack, sender: str) -> list[dict]:
    response = httpx.get(f"{stack.url}/conversations/{sender}/tracker", params={"token": TOKEN}, timeout=30)
    response.raise_for_status()
    return response.json()["events"]


def test_the_action_server_down_at_the_confirmation(stack, tickets_of):
    sender = "fault-action-down"
    assert "138****5678" in stack.texts(sender, report(5))
    before = events(stack, sender)
    kill(stack.processes[0])
    assert stack.texts(sender, "确认") == runtime_config().system_busy
    assert tickets_of(sender) == []
    assert events(stack, sender) == before, "the failed turn was kept"
    restart_action_server(stack)
    ticket = ticket_id_in(stack.texts(sender, "确认"))
    assert tickets_of(sender) == [ticket]
    assert ticket in stack.texts(sender, "查进度")


def test_a_confirmation_whose_tracker_was_lost_files_nothing_new(stack, tickets_of):
    """As when a Rasa worker dies after the ticket was committed and before the tracker was saved:
    the conversation is put back to the confirmation, and confirming again finds the first ticket."""
    sender = "fault-tracker-lost"
    assert "138****5678" in stack.texts(sender, report(6))
    at_confirmation = events(stack, sender)
    first = ticket_id_in(stack.texts(sender, "确认"))
    response = httpx.put(f"{stack.url}/conversations/{sender}/tracker/events", params={"token": TOKEN},
                         json=at_confirmation, timeout=30)
    response.raise_for_status()
    assert ticket_id_in(stack.texts(sender, "确认")) == first
    assert tickets_of(sender) == [first]
    assert first in stack.texts(sender, "查进度")


def test_redis_down_and_back_empty(tmp_path):
    """While Redis (tracker and lock store) is down a resident hears that the system is busy, not
    silence; when it is back, empty, the next message is answered on the old connections' pool."""
    from tests.faults.conftest import PrivateRedis

    private, stack = PrivateRedis(tmp_path), None
    try:
        private.start()
        (tmp_path / "stack").mkdir()
        stack = start_stack(tmp_path / "stack", redis_url=private.url)
        sender = "fault-redis"
        assert stack.texts(sender, "你好") not in ("", runtime_config().system_busy)
        private.kill()
        assert stack.texts(sender, "你好") == runtime_config().system_busy
        private.start()
        answered = stack.texts(sender, "你好")
        assert answered and answered != runtime_config().system_busy
    finally:
        if stack is not None:
            stack.stop()
        private.kill()
