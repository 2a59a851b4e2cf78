"""Sliding-window send limits ("at most N messages in any T seconds") for platform APIs.

Platforms count messages as they *arrive*. A send is therefore counted from the moment its HTTP
call finished (it certainly arrived by then), and while it is in flight it occupies a slot too.
That makes the guarantee hold on the platform's side whatever the network jitter, at the price
of one round trip per window. A leaky bucket with capacity N (aiolimiter) would let up to 2N
messages through in the first window, which a strict platform answers with 429s.

Platforms count per bot or robot, not per process. With several Rasa processes the windows
therefore live in Redis (``LINLI_REDIS_URL``, or ``redis_url`` in the channel's credentials):
one sorted set per window, whose members are slot tokens scored with the moment the slot stops
counting, claimed and released by small Lua scripts on Redis's clock (one clock for every
process and machine). An in-flight slot is a lease: its process renews it while the send is
under way, so the slot of a process that died frees itself ``lease`` seconds later. Without
Redis there is one process, and ``SlidingWindow`` keeps the same guarantee in memory.
``SendWindows`` hands out one or the other; callers only see ``Window`` and ``WindowPool``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, AsyncIterator, Callable, Hashable, Optional

from bot.core.settings import get_settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "linli:rate:"
LEASE = 30.0  # seconds an in-flight slot outlives the last sign of life of its process
_RENEW_BATCH = 500

# Scores and arguments are microseconds of Redis's clock. In-flight members are "i:<token>" scored
# with their lease's end; finished ones "f:<token>" scored with finish + period. A member whose
# score has passed no longer counts. The key lives as long as its longest-lived member could.
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000000 + t[2]\n"
_KEEP = "redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(period, lease) / 1000) + 1000)\n"

# KEYS[1] window; ARGV limit, period, lease, token → 0 (claimed) or the microseconds until a slot
# could free: a finished slot frees at its score, an in-flight one no sooner than a period from now.
_CLAIM = _NOW + """
local limit, period, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + lease, 'i:' .. ARGV[4])
  """ + _KEEP + """
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local free = tonumber(first[2])
if string.sub(first[1], 1, 2) == 'i:' then free = math.min(free, now + period) end
return math.max(1, free - now)
"""

# KEYS[1] window; ARGV period, lease, token: the send finished now and counts for one period.
_RELEASE = _NOW + """
local period, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREM', KEYS[1], 'i:' .. ARGV[3])
redis.call('ZADD', KEYS[1], now + period, 'f:' .. ARGV[3])
""" + _KEEP

# KEYS windows; ARGV[1] lease, ARGV[1 + n] the token held in KEYS[n]: extend leases still held
# (XX: a lease that already ran out stays gone, its slot may be someone else's by now).
_RENEW = _NOW + """
local lease = tonumber(ARGV[1])
for n, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', now + lease, 'i:' .. ARGV[n + 1]) == 1 and
     redis.call('PTTL', key) < lease / 1000 then
    redis.call('PEXPIRE', key, math.ceil(lease / 1000) + 1000)
  end
end
"""


def _micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


class Window(ABC):
    """At most ``limit`` sends in any ``period`` seconds; ``async with window.slot():`` around each."""

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"a window needs limit >= 1 and period > 0, got {limit}/{period}")
        self.limit = limit
        self.period = period
        self._gate = asyncio.Lock()  # one waiter per process at a time: first come, first served

    @property
    @abstractmethod
    def idle(self) -> bool:
        """Nothing of this process waits or counts here, so a pool may forget the window."""

    @abstractmethod
    async def acquire(self) -> Any:
        """Wait for a slot and hold it; returns what ``release`` needs."""

    @abstractmethod
    async def release(self, held: Any) -> None:
        """The send finished: its slot counts for one period from now."""

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        held = await self.acquire()
        try:
            yield
        finally:
            await self.release(held)


class SlidingWindow(Window):
    """The window in this process's memory (one process serves the bot or robot)."""

    def __init__(self, limit: int, period: float) -> None:
        super().__init__(limit, period)
        self._in_flight = 0
        self._finished: deque[float] = deque()
        self._released = asyncio.Event()

    def _forget_old(self, now: float) -> None:
        while self._finished and self._finished[0] + self.period <= now:
            self._finished.popleft()

    @property
    def idle(self) -> bool:
        self._forget_old(time.monotonic())
        return not self._in_flight and not self._finished and not self._gate.locked()

    async def acquire(self) -> None:
        async with self._gate:
            while True:
                now = time.monotonic()
                self._forget_old(now)
                if self._in_flight + len(self._finished) < self.limit:
                    self._in_flight += 1
                    return
                if self._finished:
                    await asyncio.sleep(self._finished[0] + self.period - now)
                else:  # every slot is in flight: wait until one finishes and starts its clock
                    self._released.clear()
                    await self._released.wait()

    async def release(self, held: None = None) -> None:
        self._in_flight -= 1
        self._finished.append(time.monotonic())
        self._released.set()


class RedisSlots:
    """One process's connection to the windows in Redis: the scripts, and the leases it holds."""

    def __init__(self, url: str, lease: float = LEASE, max_connections: int = 16) -> None:
        self.url = url
        self.lease = lease
        self.max_connections = max_connections
        self._client: Any = None  # a redis.asyncio.Redis (untyped), made on first use
        self._scripts: dict[str, Any] = {}
        self._held: dict[str, str] = {}  # token → window key
        self._heartbeat: Optional[asyncio.Task] = None

    def _script(self, name: str, source: str):
        # Created on first use so the connection pool belongs to the running event loop (each
        # Sanic worker process builds its own). A bounded pool: a broadcast of thousands of
        # messages queues for connections instead of opening thousands of them.
        if self._client is None:
            import redis.asyncio

            pool = redis.asyncio.BlockingConnectionPool.from_url(self.url, max_connections=self.max_connections,
                                                                 timeout=None)
            self._client = redis.asyncio.Redis(connection_pool=pool)
        if name not in self._scripts:
            self._scripts[name] = self._client.register_script(source)
        return self._scripts[name]

    async def claim(self, key: str, limit: int, period: float) -> tuple[Optional[str], float]:
        """(token, 0) when a slot was claimed; (None, seconds until one could free) otherwise."""
        token = uuid.uuid4().hex
        wait = int(await self._script("claim", _CLAIM)(
            keys=[key], args=[limit, _micros(period), _micros(self.lease), token]))
        if wait:
            return None, wait / 1_000_000
        self._hold(token, key)
        return token, 0.0

    async def release(self, key: str, period: float, token: str) -> None:
        # Forgotten before the call: if it never completes, the lease runs out instead of being renewed.
        self._held.pop(token, None)
        if not self._held and self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        await self._script("release", _RELEASE)(keys=[key], args=[_micros(period), _micros(self.lease), token])

    def _hold(self, token: str, key: str) -> None:
        self._held[token] = key
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._renew_while_held())

    async def _renew_while_held(self) -> None:
        """Renew every lease this process holds, three times per lease, in a few calls however many."""
        while self._held:
            await asyncio.sleep(self.lease / 3)
            held = list(self._held.items())
            for start in range(0, len(held), _RENEW_BATCH):
                batch = held[start:start + _RENEW_BATCH]
                try:
                    await self._script("renew", _RENEW)(keys=[key for _, key in batch],
                                                        args=[_micros(self.lease), *(token for token, _ in batch)])
                except Exception:  # the next beat tries again; a lease lost meanwhile only slows sends down
                    logger.warning("Could not renew %d send-slot leases in Redis", len(batch), exc_info=True)


class RedisWindow(Window):
    """The window in Redis, shared by every process sending as the same bot or robot."""

    def __init__(self, slots: RedisSlots, key: str, limit: int, period: float) -> None:
        super().__init__(limit, period)
        self.slots = slots
        self.key = key
        self._in_flight = 0

    @property
    def idle(self) -> bool:
        return not self._in_flight and not self._gate.locked()

    async def acquire(self) -> str:
        async with self._gate:
            while True:
                token, wait = await self.slots.claim(self.key, self.limit, self.period)
                if token is not None:
                    self._in_flight += 1
                    return token
                await asyncio.sleep(wait)

    async def release(self, held: str) -> None:
        self._in_flight -= 1
        await self.slots.release(self.key, self.period, held)


class WindowPool:
    """One window per key (chat, group, robot), forgetting idle ones as keys pile up."""

    def __init__(self, make: Callable[[str], Window], max_idle_keys: int = 1024) -> None:
        self.make = make
        self.max_idle_keys = max_idle_keys
        self._windows: dict[Hashable, Window] = {}

    def __getitem__(self, key: Hashable) -> Window:
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self.max_idle_keys:
                self._windows = {k: w for k, w in self._windows.items() if not w.idle}
            window = self._windows[key] = self.make(str(key))
        return window


class SendWindows:
    """The windows of one sender (a Telegram bot, WeChat Work's robots): in Redis under
    ``linli:rate:<sender>:…`` when a Redis URL is configured, in memory otherwise."""

    def __init__(self, sender: str, redis_url: Optional[str] = None, lease: float = LEASE) -> None:
        self.sender = sender
        self.slots = RedisSlots(redis_url, lease) if redis_url else None

    @classmethod
    def from_settings(cls, sender: str, redis_url: Optional[str] = None) -> "SendWindows":
        """``redis_url`` from a channel's credentials wins over ``LINLI_REDIS_URL``."""
        return cls(sender, redis_url or get_settings().redis_url)

    def window(self, name: str, limit: int, period: float) -> Window:
        if self.slots is None:
            return SlidingWindow(limit, period)
        return RedisWindow(self.slots, f"{KEY_PREFIX}{self.sender}:{name}", limit, period)

    def pool(self, name: str, limit: int, period: float) -> WindowPool:
        return WindowPool(lambda key: self.window(f"{name}:{key}", limit, period))
