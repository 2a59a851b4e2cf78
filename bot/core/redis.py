"""The Redis connection settings every part of Linli derives from ``LINLI_REDIS_URL``."""
from __future__ import annotations

from urllib.parse import urlparse


def _redis_args(url: str) -> dict:
    parsed = urlparse(url)
    return {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 6379,
            "db": int((parsed.path or "/0").strip("/") or 0), "password": parsed.password}
