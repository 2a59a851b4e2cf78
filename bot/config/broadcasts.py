"""The broadcasts file: channels' reach and limits, topics and the wording of broadcast reports."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Optional
from bot.config.files import cached, read_yaml
from bot.core.settings import PACKAGE_DATA, env


#: Staff chat commands: "/通知 望园社区 明天9点到12点停水" and "/取消通知 12".


# -- configuration -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelInfo:
    name: str
    label: str
    input_class: str
    images: bool
    concurrency: int


@dataclass(frozen=True)
class BroadcastConfig:
    """bot/data/broadcasts.yml (see its comments)."""

    topics: dict  # code → label
    topic_words: dict  # word → code
    text_max_chars: int
    status_labels: dict  # broadcast status → how staff see it
    everyone_words: frozenset  # audience words meaning every subscriber
    volunteer_words: frozenset  # audience words meaning the rider volunteers
    image_max_bytes: int
    image_formats: tuple
    image_max_side: int
    channels: dict  # name → ChannelInfo
    heartbeat_seconds: float
    stale_after: timedelta
    connect_retries: int
    request_timeout: float
    draft_valid: timedelta
    reasons: dict
    failure_words: dict

    @classmethod
    def load(cls, path: Path) -> "BroadcastConfig":
        raw = read_yaml(path)
        topics = {code: spec["label"] for code, spec in raw["topics"].items()}
        words = {word: code for code, spec in raw["topics"].items() for word in (spec["label"], *spec["words"])}
        channels = {name: ChannelInfo(name, spec["label"], spec["class"], bool(spec.get("images")),
                                      int(spec.get("concurrency", 4)))
                    for name, spec in raw["channels"].items()}
        image = raw["image"]
        return cls(topics=topics, topic_words=words, text_max_chars=int(raw["text_max_chars"]),
                   status_labels=dict(raw["statuses"]),
                   everyone_words=frozenset(raw["audience_words"]["everyone"]),
                   volunteer_words=frozenset(raw["audience_words"]["volunteers"]),
                   image_max_bytes=int(image["max_bytes"]), image_formats=tuple(image["formats"]),
                   image_max_side=int(image["max_side"]), channels=channels,
                   heartbeat_seconds=float(raw["heartbeat_seconds"]),
                   stale_after=timedelta(seconds=float(raw["stale_after_seconds"])),
                   connect_retries=int(raw["connect_retries"]),
                   request_timeout=float(raw["request_timeout_seconds"]),
                   draft_valid=timedelta(minutes=float(raw["draft_valid_minutes"])),
                   reasons=dict(raw["reasons"]), failure_words=dict(raw["failure_words"]))

    def topic_code(self, word: str) -> Optional[str]:
        word = word.strip()
        return word if word in self.topics else self.topic_words.get(word)

    def reason_label(self, reason: Optional[str]) -> str:
        return self.reasons.get(reason or "", reason or "")

    def failure_reason(self, error: str) -> str:
        for reason, words in self.failure_words.items():
            if any(str(word) in error for word in words):
                return reason
        return "error"


@cached
def _config(path: str) -> BroadcastConfig:
    return BroadcastConfig.load(Path(path))


def get_config() -> BroadcastConfig:
    """The broadcasts file: ``LINLI_BROADCASTS``, by default bot/data/broadcasts.yml."""
    return _config(env("BROADCASTS", str(PACKAGE_DATA / "broadcasts.yml")))
