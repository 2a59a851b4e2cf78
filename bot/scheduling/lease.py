"""The lease that lets one scheduler process at a time run jobs."""
from __future__ import annotations

import uuid
from typing import Optional

# -- the lease -------------------------------------------------------------------------------------

class RedisLease:
    """Held by one process at a time: taken with SET NX PX, kept by extending it only while the value
    is still this process's own, so a process that paused past the TTL cannot extend a lease a
    standby has meanwhile taken."""

    _EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, client, key: str, ttl_seconds: float, owner: str | None = None) -> None:
        self.client, self.key = client, key
        self.ttl_ms = int(ttl_seconds * 1000)
        self.owner = owner or uuid.uuid4().hex

    def hold(self) -> bool:
        if self.client.eval(self._EXTEND, 1, self.key, self.owner, self.ttl_ms):
            return True
        return bool(self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms))

    def holder(self) -> Optional[str]:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    def release(self) -> None:
        self.client.eval(self._RELEASE, 1, self.key, self.owner)


class LocalLease:
    """Without Redis there is one Linli process (SQLite): it always holds the lease."""

    owner = "local"

    def hold(self) -> bool:
        return True

    def holder(self) -> Optional[str]:
        return self.owner

    def release(self) -> None:
        pass
