"""The Redis connection settings every part of Linli derives from ``LINLI_REDIS_URL``.

Every client retries a command a few times on a fresh connection when the old one broke, and checks
a connection that sat idle before using it: after Redis restarts, the pool's stale connections cost
a reconnect, never a failed request.
"""
from __future__ import annotations

from urllib.parse import urlparse


def resilient_options() -> dict:
    """Client options (redis-py 4) that survive a Redis restart; a fresh Retry for each client."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError
    from redis.retry import Retry

    return {"retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            "retry_on_error": [ConnectionError, TimeoutError], "health_check_interval": 15}


def _redis_args(url: str) -> dict:
    parsed = urlparse(url)
    return {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 6379,
            "db": int((parsed.path or "/0").strip("/") or 0), "password": parsed.password, **resilient_options()}
