"""The workbench's settings and wording (workbench.yml beside this file, or LINLI_WORKBENCH_CONFIG)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.core.settings import CONSOLE_HOST, CONSOLE_PORT, console_url

DEFAULT_PATH = Path(__file__).resolve().parent / "workbench.yml"


@dataclass(frozen=True)
class ConsoleConfig:
    link_valid_minutes: float
    session_hours: float
    idle_minutes: float
    cookie: str
    page_size: int
    csv_max_rows: int
    facet_values_max: int
    counts_reused_seconds: float
    figures_cache_seconds: float
    custom_max_days: int
    poll_ms: int
    labels: dict
    disabled: dict
    messages: dict
    correction_words: tuple[str, ...] = ()
    nav: tuple[dict, ...] = ()  # the menu: {path, label, staff?, street?}, in order

    @classmethod
    def load(cls, path: Path | str) -> "ConsoleConfig":
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        try:
            sign_in, queue, figures = raw["sign_in"], raw["queue"], raw["figures"]
            config = cls(link_valid_minutes=float(sign_in["link_valid_minutes"]),
                         session_hours=float(sign_in["session_hours"]), idle_minutes=float(sign_in["idle_minutes"]),
                         cookie=str(sign_in["cookie"]), page_size=int(queue["page_size"]),
                         csv_max_rows=int(queue["csv_max_rows"]), facet_values_max=int(queue["facet_values_max"]),
                         counts_reused_seconds=float(queue["counts_reused_seconds"]),
                         figures_cache_seconds=float(figures["cache_seconds"]),
                         custom_max_days=int(figures["custom_max_days"]),
                         poll_ms=int(raw["broadcasts"]["poll_ms"]), labels=dict(raw["labels"]),
                         disabled=dict(raw["disabled"]), messages=dict(raw["messages"]),
                         correction_words=tuple(str(w) for w in raw["misunderstood"]["correction_words"]),
                         nav=tuple(dict(item) for item in raw.get("nav") or ()))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: missing or malformed workbench setting: {error}") from error
        if config.link_valid_minutes <= 0 or config.session_hours <= 0 or config.page_size <= 0:
            raise ValueError(f"{path}: link_valid_minutes, session_hours and page_size must be positive")
        return config


@lru_cache(maxsize=4)
def _load(path: str) -> ConsoleConfig:
    return ConsoleConfig.load(path)


def get_config() -> ConsoleConfig:
    return _load(os.environ.get("LINLI_WORKBENCH_CONFIG") or str(DEFAULT_PATH))


def console_host() -> str:
    return os.environ.get("LINLI_CONSOLE_HOST") or CONSOLE_HOST


def console_port() -> int:
    return int(os.environ.get("LINLI_CONSOLE_PORT") or CONSOLE_PORT)


def public_url() -> str:
    """Where staff open the workbench (bot.core.settings.console_url: the digest links there too)."""
    return console_url()
