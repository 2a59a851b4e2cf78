"""The broadcasts file: channels' reach and limits, topics and the wording of broadcast reports."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Extra, Field, NonNegativeInt, PositiveFloat, PositiveInt

from bot.config.files import cached, load_model
from bot.core.settings import PACKAGE_DATA, env

#: Staff chat commands: "/通知 望园社区 明天9点到12点停水" and "/取消通知 12".


# -- the file, as written --------------------------------------------------------------------------

class _Strict(BaseModel):
    class Config:
        extra = Extra.forbid  # a misspelt key is an error, not a silently ignored setting
        allow_mutation = False


class _Topic(_Strict):
    label: str
    words: list[str] = []


class _Image(_Strict):
    max_bytes: PositiveInt
    formats: list[str]
    max_side: PositiveInt


class _Channel(_Strict):
    label: str
    input_class: str = Field(alias="class")
    images: bool = False
    concurrency: PositiveInt = 4


class _AudienceWords(_Strict):
    everyone: list[str]
    volunteers: list[str]


class BroadcastsFile(_Strict):
    """broadcasts.yml key by key (its comments say what each means)."""

    topics: dict[str, _Topic]
    topic_refusals: list[str] = []
    text_max_chars: PositiveInt
    statuses: dict[str, str]
    audience_words: _AudienceWords
    image: _Image
    channels: dict[str, _Channel]
    heartbeat_seconds: PositiveFloat
    stale_after_seconds: PositiveFloat
    connect_retries: NonNegativeInt
    request_timeout_seconds: PositiveFloat
    draft_valid_minutes: PositiveFloat
    reasons: dict[str, str]
    failure_words: dict[str, list[str]]


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
    topic_refusals: tuple  # words that make a clause refuse the topics it names ("别的活动就不用了")
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
        raw = load_model(BroadcastsFile, path)
        return cls(topics={code: topic.label for code, topic in raw.topics.items()},
                   topic_words={word: code for code, topic in raw.topics.items() for word in (topic.label, *topic.words)},
                   topic_refusals=tuple(raw.topic_refusals),
                   text_max_chars=raw.text_max_chars, status_labels=dict(raw.statuses),
                   everyone_words=frozenset(raw.audience_words.everyone),
                   volunteer_words=frozenset(raw.audience_words.volunteers),
                   image_max_bytes=raw.image.max_bytes, image_formats=tuple(raw.image.formats),
                   image_max_side=raw.image.max_side,
                   channels={name: ChannelInfo(name, c.label, c.input_class, c.images, c.concurrency)
                             for name, c in raw.channels.items()},
                   heartbeat_seconds=raw.heartbeat_seconds, stale_after=timedelta(seconds=raw.stale_after_seconds),
                   connect_retries=raw.connect_retries, request_timeout=raw.request_timeout_seconds,
                   draft_valid=timedelta(minutes=raw.draft_valid_minutes), reasons=dict(raw.reasons),
                   failure_words=dict(raw.failure_words))

    def topics_named(self, text: str) -> list[str]:
        """The topics a resident's own words ask for ("停水停电的通知发我"), in the configured
        order; a clause that refuses ("别的活动啥的就不用了") asks for none."""
        clauses = [c for c in re.split(r"[\s,，。;；!！?？、]+", text or "")
                   if c and not any(word in c for word in self.topic_refusals)]
        found = {code for word, code in self.topic_words.items() for clause in clauses if word in clause}
        return [code for code in self.topics if code in found]

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
