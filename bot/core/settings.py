"""Settings read from ``LINLI_*`` environment variables.

Every process (Rasa server, action server, CLI, scheduler) reads the same variables, so a value set
once in the environment holds everywhere; nothing here is cached across ``reload()`` so tests can
point one process at a fresh database.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = PROJECT_ROOT / "bot" / "data"


@overload
def env(name: str, default: str) -> str: ...


@overload
def env(name: str, default: None = None) -> str | None: ...


def env(name: str, default: str | None = None) -> str | None:
    """``LINLI_<name>``; an empty value counts as unset."""
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


#: Where the workbench listens unless LINLI_CONSOLE_HOST / LINLI_CONSOLE_PORT say otherwise.
CONSOLE_HOST, CONSOLE_PORT = "127.0.0.1", 5080


def console_url() -> str:
    """Where staff open the workbench (工作台): ``LINLI_CONSOLE_URL`` (e.g. https://linli.example.org
    behind a proxy), else the address it listens on. Sign-in links and the Monday digest point here,
    so it is known to every process, not only the workbench's."""
    explicit = env("CONSOLE_URL")
    if explicit:
        return explicit.rstrip("/")
    host = env("CONSOLE_HOST", CONSOLE_HOST)
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{env('CONSOLE_PORT', str(CONSOLE_PORT))}"


#: Linli's REST channel (bot.channels.rest), which takes nothing from the request body on trust.
REST_CLASS = "bot.channels.rest.RestInput"


def operator_credentials(settings: Settings) -> tuple[Path | None, dict]:
    """``LINLI_CREDENTIALS`` or ``credentials.yml`` at the top (its path and channels), if any."""
    explicit = env("CREDENTIALS")
    source = Path(explicit) if explicit else PROJECT_ROOT / "credentials.yml"
    if not source.exists():
        return (source if explicit else None), {}
    return source, dict(yaml.safe_load(source.read_text(encoding="utf-8")) or {})


def credentials_path(settings: Settings) -> Path:
    """The credentials Rasa is given: the operator's channels, with Rasa's stock REST channel (which
    trusts the body) replaced by Linli's (``bot.channels.rest``), present only when ``LINLI_REST`` is
    on. Secrets stay ``${VAR}`` references that Rasa expands from the environment."""
    _, channels = operator_credentials(settings)
    channels.pop("rest", None)
    channels.pop(REST_CLASS, None)
    if settings.rest_enabled:
        section = {"sender_prefix": settings.rest_sender_prefix}
        if settings.rest_token:
            section["token"] = "${LINLI_REST_TOKEN}"
        channels[REST_CLASS] = section
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    path = settings.var_dir / f"credentials-{settings.rasa_port}.yml"
    path.write_text(yaml.safe_dump(channels, allow_unicode=True, sort_keys=False) if channels else "{}\n")
    return path
