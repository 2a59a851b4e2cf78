"""Short-lived shared state for channels: de-duplication claims, remembered replies, button menus.

WeChat re-sends a message it thinks went unanswered and Telegram re-delivers an update after an
error; with several Rasa processes behind one URL the retry may land on another process, so the
claim lives in Redis (``SET NX EX``) when ``LINLI_REDIS_URL`` is set. Without Redis there is one
process, and its memory is enough.
"""
from __future__ import annotations

import time
from typing import Optional

from bot.core.redis import resilient_options
from bot.core.settings import get_settings

KEY_PREFIX = "linli:channel:"
_MEMORY_LIMIT = 100_000


class ShortTermStore:
    """String values that expire, in Redis (``redis_url``) or in this process's memory."""

    def __init__(self, redis_url: Optional[str] = None) -> None:
        self.redis_url = redis_url
        self._redis = None
        self._memory: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_settings(cls, redis_url: Optional[str] = None) -> "ShortTermStore":
        """``redis_url`` from a channel's credentials wins over ``LINLI_REDIS_URL``."""
        return cls(redis_url or get_settings().redis_url)

    def _client(self):
        # Created on first use so the connection pool belongs to the server's running event loop.
        if self._redis is None:
            import redis.asyncio

            self._redis = redis.asyncio.from_url(self.redis_url, decode_responses=True, **resilient_options())
        return self._redis

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        """True for the first caller of ``key`` within ``ttl`` seconds, False for every repeat."""
        if self.redis_url:
            return bool(await self._client().set(KEY_PREFIX + key, value, nx=True, px=int(ttl * 1000)))
        if self._live(key) is not None:
            return False
        self._remember(key, value, ttl)
        return True

    async def put(self, key: str, value: str, ttl: float) -> None:
        if self.redis_url:
            await self._client().set(KEY_PREFIX + key, value, px=int(ttl * 1000))
        else:
            self._remember(key, value, ttl)

    async def get(self, key: str) -> Optional[str]:
        if self.redis_url:
            return await self._client().get(KEY_PREFIX + key)
        return self._live(key)

    async def delete(self, key: str) -> None:
        if self.redis_url:
            await self._client().delete(KEY_PREFIX + key)
        else:
            self._memory.pop(key, None)

    def _live(self, key: str) -> Optional[str]:
        entry = self._memory.get(key)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def _remember(self, key: str, value: str, ttl: float) -> None:
        now = time.monotonic()
        if len(self._memory) >= _MEMORY_LIMIT:
            live = [(k, v) for k, v in self._memory.items() if v[1] > now]
            # Still full of live keys: forget the oldest quarter rather than grow without bound.
            self._memory = dict(live[len(live) // 4:] if len(live) >= _MEMORY_LIMIT else live)
        self._memory[key] = (value, now + ttl)
