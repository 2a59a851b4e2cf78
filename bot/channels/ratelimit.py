"""Sliding-window send limits ("at most N messages in any T seconds") for platform APIs.

Platforms count messages as they *arrive*. A send is therefore counted from the moment its HTTP
call finished (it certainly arrived by then), and while it is in flight it occupies a slot too.
That makes the guarantee hold on the platform's side whatever the network jitter, at the price
of one round trip per window. A leaky bucket with capacity N (aiolimiter) would let up to 2N
messages through in the first window, which a strict platform answers with 429s.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Hashable


class SlidingWindow:
    """At most ``limit`` sends in any ``period`` seconds; ``async with window:`` around each send."""

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"a window needs limit >= 1 and period > 0, got {limit}/{period}")
        self.limit = limit
        self.period = period
        self._in_flight = 0
        self._finished: deque[float] = deque()
        self._gate = asyncio.Lock()  # one waiter at a time: first come, first served
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

    def release(self) -> None:
        self._in_flight -= 1
        self._finished.append(time.monotonic())
        self._released.set()

    async def __aenter__(self) -> "SlidingWindow":
        await self.acquire()
        return self

    async def __aexit__(self, *exc) -> None:
        self.release()


class WindowPool:
    """One ``SlidingWindow`` per key (chat, group, robot), forgetting idle ones as keys pile up."""

    def __init__(self, limit: int, period: float, max_idle_keys: int = 1024) -> None:
        self.limit = limit
        self.period = period
        self.max_idle_keys = max_idle_keys
        self._windows: dict[Hashable, SlidingWindow] = {}

    def __getitem__(self, key: Hashable) -> SlidingWindow:
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self.max_idle_keys:
                self._windows = {k: w for k, w in self._windows.items() if not w.idle}
            window = self._windows[key] = SlidingWindow(self.limit, self.period)
        return window
