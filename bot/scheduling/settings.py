"""How the scheduler process runs (``LINLI_SCHEDULER_*``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bot.core.settings import env, get_settings

# -- settings and policy ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SchedulerSettings:
    """How the scheduler process runs (``LINLI_SCHEDULER_*``); what it does is in :class:`Policy`."""

    database_url: str
    redis_url: Optional[str]
    rasa_url: str
    api_token: Optional[str]
    timezone: str
    lease_seconds: float = 20.0       # a standby takes over at most lease + renew seconds after a crash
    misfire_grace_seconds: int = 3600  # recurring jobs later than this are skipped, not run stale
    workers: int = 8                   # jobs (deliveries) run in parallel
    sweep_seconds: float = 60.0        # how often the state of tickets and subscriptions is turned into jobs
    key_prefix: str = "linli"          # Redis keys: <prefix>:jobs, <prefix>:run_times, <prefix>:lease
    max_attempts: int = 5              # deliveries tried before they are left as failed
    collecting_channels: tuple = ("rest",)  # channels answered in trigger_intent's reply by design

    @property
    def renew_seconds(self) -> float:
        return max(min(self.lease_seconds / 4, 5.0), 0.05)

    @classmethod
    def from_env(cls) -> "SchedulerSettings":
        base = get_settings()
        # Each LINLI_ name is written out whole, so tests/test_config.py finds it in the README's table.
        return cls(database_url=base.database_url, redis_url=base.redis_url,
                   rasa_url=env("RASA_URL", f"http://127.0.0.1:{base.rasa_port}"), api_token=base.api_token,
                   timezone=base.timezone, lease_seconds=float(env("SCHEDULER_LEASE_SECONDS", "20")),
                   misfire_grace_seconds=int(float(env("SCHEDULER_MISFIRE_GRACE", "3600"))),
                   workers=int(float(env("SCHEDULER_WORKERS", "8"))),
                   sweep_seconds=float(env("SCHEDULER_SWEEP_SECONDS", "60")),
                   key_prefix=env("SCHEDULER_KEY_PREFIX", "linli"),
                   max_attempts=int(float(env("SCHEDULER_MAX_ATTEMPTS", "5"))))
