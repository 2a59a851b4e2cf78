"""How ``linli run`` supervises its processes and what residents hear while a part is down
(``LINLI_RUNTIME_CONFIG``, default bot/data/runtime.yml)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.core.settings import PACKAGE_DATA, env


@dataclass(frozen=True)
class RuntimeConfig:
    system_busy: str
    backoff_first_seconds: float
    backoff_max_seconds: float
    stable_seconds: float
    health_port: int

    @classmethod
    def load(cls, path: Path) -> "RuntimeConfig":
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        supervision = raw["supervision"]
        return cls(system_busy=raw["messages"]["system_busy"],
                   backoff_first_seconds=float(supervision["backoff_first_seconds"]),
                   backoff_max_seconds=float(supervision["backoff_max_seconds"]),
                   stable_seconds=float(supervision["stable_seconds"]),
                   health_port=int(env("HEALTH_PORT", str(supervision["health_port"]))))


@lru_cache(maxsize=1)
def runtime_config() -> RuntimeConfig:
    return RuntimeConfig.load(Path(env("RUNTIME_CONFIG", str(PACKAGE_DATA / "runtime.yml"))))
