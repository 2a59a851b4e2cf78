"""Settings read from ``LINLI_*`` environment variables.

Every process (Rasa server, action server, CLI, scheduler) reads the same variables, so a value set
once in the environment holds everywhere; nothing here is cached across ``reload()`` so tests can
point one process at a fresh database.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = PROJECT_ROOT / "bot" / "data"


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"LINLI_{name}")
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    directory_path: Path
    service_path: Path
    model_dir: Path
    var_dir: Path
    timezone: str
    rasa_port: int
    action_port: int
    api_token: str | None
    rasa_host: str = "0.0.0.0"
    rest: str | None = None
    rest_token: str | None = None
    rest_sender_prefix: str = "rest:"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        var_dir = Path(env("VAR_DIR", str(PROJECT_ROOT / "var")))
        return cls(
            database_url=env("DATABASE_URL", f"sqlite:///{var_dir / 'linli.db'}"),
            redis_url=env("REDIS_URL"),
            directory_path=Path(env("DIRECTORY", str(PACKAGE_DATA / "directory.yml"))),
            service_path=Path(env("SERVICE_CONFIG", str(PACKAGE_DATA / "service.yml"))),
            model_dir=Path(env("MODEL_DIR", str(PROJECT_ROOT / "models"))),
            var_dir=var_dir,
            timezone=env("TIMEZONE", "Asia/Shanghai"),
            rasa_port=int(env("RASA_PORT", "5005")),
            action_port=int(env("ACTION_PORT", "5055")),
            api_token=env("API_TOKEN"),
            rasa_host=env("RASA_HOST", "0.0.0.0"),
            rest=(env("REST") or "").lower() or None,
            rest_token=env("REST_TOKEN"),
            rest_sender_prefix=os.environ.get("LINLI_REST_SENDER_PREFIX", "rest:"),
        )

    @property
    def rest_enabled(self) -> bool:
        """Linli's REST channel: ``LINLI_REST=on|off``; unset, it is on for local runs (``linli shell``,
        tests) and off for ``linli run``, which sets ``off`` before starting anything."""
        return self.rest not in ("off", "0", "false", "no")

    @property
    def rasa_local_only(self) -> bool:
        """True when the Rasa port (webhooks, REST, HTTP API) is bound to this machine alone."""
        return is_loopback(self.rasa_host)


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def get_settings() -> Settings:
    return Settings.from_env()
