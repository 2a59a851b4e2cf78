"""The street's rules for the handler's side (service.yml ``handlers``, documented there)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from bot.core.settings import get_settings


@dataclass(frozen=True)
class ProgressNote:
    code: str
    button: str     # what the handler taps
    resident: str   # what the reporter hears


@dataclass(frozen=True)
class HandlerPolicy:
    sign_for: dict                 # deadline class → timedelta
    notice_sweep_seconds: float
    returns_to: str                # "department:<id>" (or "community")
    return_reason_max_chars: int
    report_max_chars: int
    progress_notes: dict           # code → ProgressNote
    channel_labels: dict           # channel → its name for people (report.labels.channels)
    extension_max_days: int = 15

    @classmethod
    def load(cls, path: Path) -> "HandlerPolicy":
        whole = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        raw = whole.get("handlers")
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: no handlers section")
        try:
            sign_for = {name: timedelta(minutes=float(minutes)) for name, minutes in raw["sign_for_minutes"].items()}
            notes = {code: ProgressNote(code, str(note["button"]), str(note["resident"]))
                     for code, note in (raw.get("progress_notes") or {}).items()}
            policy = cls(sign_for, float(raw.get("notice_sweep_seconds", 1)), str(raw["returns_to"]),
                         int(raw.get("return_reason_max_chars", 200)), int(raw.get("report_max_chars", 500)), notes,
                         dict(((whole.get("report") or {}).get("labels") or {}).get("channels") or {}),
                         int(raw.get("extension_max_days", 15)))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: malformed handlers setting: {error}") from error
        if any(limit <= timedelta(0) for limit in sign_for.values()) or policy.notice_sweep_seconds <= 0:
            raise ValueError(f"{path}: handlers: sign_for_minutes and notice_sweep_seconds must be positive")
        return policy

    def sign_for_limit(self, deadline_class: str | None) -> timedelta:
        return self.sign_for.get(deadline_class or "", max(self.sign_for.values()))


@lru_cache(maxsize=4)
def _policy(path: str) -> HandlerPolicy:
    return HandlerPolicy.load(Path(path))


def handler_policy() -> HandlerPolicy:
    return _policy(str(get_settings().service_path))
