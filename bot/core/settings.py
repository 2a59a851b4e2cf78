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
        )


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
