"""The Redis connection settings every part of Linli derives from ``LINLI_REDIS_URL``.

Every client retries a command a few times on a fresh connection when the old one broke, and checks
a connection that sat idle before using it: after Redis restarts, the pool's stale connections cost
a reconnect, never a failed request.
"""
from __future__ import annotations


def resilient_options() -> dict:
    """Client options (redis-py 4) that survive a Redis restart; a fresh Retry for each client."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError
    from redis.retry import Retry

    return {"retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            "retry_on_error": [ConnectionError, TimeoutError], "health_check_interval": 15}


def client(url: str):
    """A client for ``url`` as redis-py reads it (``redis://``, ``rediss://`` for TLS, ``unix://``;
    user name, password, database and query options included), with :func:`resilient_options`."""
    import redis

    return redis.Redis.from_url(url, **resilient_options())


def job_store_options(url: str) -> dict:
    """Keyword arguments for APScheduler's ``RedisJobStore``, which builds ``redis.Redis(db=…, **them)``:
    a connection pool made from the whole URL, so the store's ``db`` default is never used."""
    import redis

    return {"connection_pool": redis.ConnectionPool.from_url(url, **resilient_options())}


def rasa_store_options(url: str) -> dict:
    """The connection part of a Rasa Redis tracker or lock store's endpoint (``url`` is the host
    there), from the same reading of the URL: TLS for ``rediss://``, the user name when there is one."""
    from redis.connection import parse_url

    parsed = parse_url(url)
    if "path" in parsed:
        raise ValueError("Rasa's Redis stores connect over TCP: LINLI_REDIS_URL must be redis:// or rediss://")
    options = {"url": parsed.get("host", "127.0.0.1"), "port": parsed.get("port", 6379), "db": parsed.get("db", 0)}
    options.update({key: parsed[key] for key in ("username", "password") if parsed.get(key)})
    if url.startswith("rediss://"):
        options["use_ssl"] = True
    return options
