"""A fake dialogue core and served channels, shared by the channel tests (and usable by benchmarks)."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import InputChannel, UserMessage

from tests.standins.server import Running

Reply = Callable[[UserMessage], Awaitable[None]]


async def echo(message: UserMessage) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")


class FakeCore:
    """Stands in for Rasa's agent: records messages, replies with ``reply`` (echo by default)."""

    def __init__(self, reply: Reply = echo) -> None:
        self.reply = reply
        self.messages: list[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        await self.reply(message)

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]


class ChannelServer:
    def __init__(self, running: Running, channel: InputChannel, core: FakeCore) -> None:
        self.running = running
        self.channel = channel
        self.core = core

    def url(self, path: str = "webhook") -> str:
        return f"{self.running.url}/webhooks/{self.channel.name()}/{path}"


async def eventually(condition: Callable[[], Any], timeout: float = 10.0, message: str = "condition") -> Any:
    """Waits (without blocking the loop) until ``condition()`` is truthy and returns it; fails after
    ``timeout`` seconds. For what arrives in the background: wait for the thing itself, not a while."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout} s")
        await asyncio.sleep(0.02)
