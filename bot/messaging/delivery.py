"""Proactive messages: sent through Rasa's ``trigger_intent`` API, each one at most once.

Linli never writes to a channel behind Rasa's back: a proactive message is an ``EXTERNAL_…`` intent
triggered in the recipient's conversation, so the dialogue knows what was asked (a follow-up answer
is understood in context) and the channel's output channel does the sending. A channel that has no
output channel for proactive messages (the REST channel) gets Rasa's collecting channel, whose
messages come back in the response and are kept in the delivery record.

Every delivery has a key ("followup:GD…:1:ask"). The key is claimed in the database before the
request goes out, so two processes racing for the same job send once; a failed delivery can be
claimed again by a retry.

A delivery counts as sent only when it went out. Rasa hands a ``trigger_intent`` for a channel it has
no connector for (``wecom`` without WeChat Work credentials) to its collecting channel and answers
200 with the messages in the reply: for any channel but those that collect by design (the REST
channel), that is a failure, recorded as ``failed`` with ``not configured``, not a success.
A claim still "sending" is another attempt under way: the job tries
again later rather than carry on as if it had been sent. One left "sending" longer than a request
can take belongs to a process that died mid-send, and is claimed again: a follow-up question is
asked (perhaps twice) rather than never.
"""
from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta
from typing import Callable, Optional
from urllib.parse import quote

import httpx
from sqlalchemy import JSON, Column, Integer, String, Text, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.db import Base, EnumString, StrEnum, UtcDateTime, session_scope
from bot.core.errors import RetryLater
from bot.messaging.recipients import Recipient

log = logging.getLogger(__name__)


class DeliveryStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryRecord(Base):
    __tablename__ = "deliveries"

    key = Column(String(200), primary_key=True)
    channel = Column(String(32), nullable=False)
    conversation_id = Column(String(128), nullable=False)
    intent = Column(String(64), nullable=False)
    entities = Column(JSON, nullable=False, default=dict)
    status = Column(EnumString(DeliveryStatus), nullable=False, index=True)
    attempts = Column(Integer, nullable=False, default=1)
    claimed_at = Column(UtcDateTime, nullable=False)
    sent_at = Column(UtcDateTime)
    messages = Column(JSON)
    error = Column(Text)


def trigger_intent_url(rasa_url: str, conversation_id: str) -> str:
    """Rasa's route does not decode the id: "robot:xiyuan" or a group member's "<group>:<user>" must
    arrive as written (":" and "@" are legal in a path), not as "robot%3Axiyuan", another
    conversation."""
    return f"{rasa_url}/conversations/{quote(conversation_id, safe=':@')}/trigger_intent"


def trigger_intent(client: httpx.Client, rasa_url: str, token: Optional[str], to: Recipient, intent: str,
                   entities: dict) -> httpx.Response:
    """The one request every proactive message is (deliveries and broadcasts): Rasa's
    ``trigger_intent`` in the recipient's conversation, sent out through their channel, with the API
    token when one is set."""
    return client.post(trigger_intent_url(rasa_url, to.conversation_id),
                       params={"output_channel": to.channel, **({"token": token} if token else {})},
                       json={"name": intent, "entities": entities})


class DeliveryFailed(RetryLater):
    pass


class NotConfigured(DeliveryFailed):
    """Rasa has no connector for the recipient's channel: nothing reached them."""

    def __init__(self, key: str, channel: str) -> None:
        super().__init__(f"{key}: channel not configured: {channel}")
        self.channel = channel


#: Channels whose messages come back in trigger_intent's reply by design (no platform behind them).
COLLECTING_CHANNELS = ("rest",)


class Delivery:
    """Sends proactive messages through one Rasa server (any replica behind a load balancer)."""

    def __init__(self, rasa_url: str, token: Optional[str], engine, clock: Callable[[], datetime],
                 workers: int = 8, timeout: float = 30.0, collecting: tuple[str, ...] = COLLECTING_CHANNELS) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.collecting = frozenset(collecting)
        self.token = token
        self.engine = engine
        self.clock = clock
        # TCP_NODELAY: without it a POST waits for Linux's 40 ms delayed ACK between headers and body.
        transport = httpx.HTTPTransport(limits=httpx.Limits(max_connections=max(workers, 1) * 2),
                                        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self.client = httpx.Client(timeout=timeout, transport=transport)
        self.stale_after = timedelta(seconds=timeout * 2)  # no request of this client is still running

    def send(self, key: str, to: Recipient, intent: str, entities: dict | None = None) -> Optional[list]:
        """Triggers ``intent`` in the recipient's conversation; returns the collected messages (empty
        when the channel sent them itself), or None when this key was delivered already. Raises
        :class:`DeliveryFailed` (a :class:`RetryLater`) on failure and while another attempt is
        sending it."""
        entities = {k: v for k, v in (entities or {}).items() if v is not None}
        if not self._claim(key, to, intent, entities):
            return None
        try:
            response = trigger_intent(self.client, self.rasa_url, self.token, to, intent, entities)
            response.raise_for_status()
        except httpx.HTTPError as error:
            detail = f"{type(error).__name__}: {error}"[:1000]
            self._finish(key, "failed", error=detail)
            raise DeliveryFailed(f"{key}: {detail}") from error
        reply = response.json()
        if "messages" in reply and to.channel not in self.collecting:
            self._finish(key, "failed", error=f"channel not configured: {to.channel}")
            raise NotConfigured(key, to.channel)
        messages = reply.get("messages", [])
        self._finish(key, "sent", messages=messages)
        return messages

    def _claim(self, key: str, to: Recipient, intent: str, entities: dict) -> bool:
        now = self.clock()
        try:
            with session_scope(self.engine) as session:
                session.add(DeliveryRecord(key=key, channel=to.channel, conversation_id=to.conversation_id,
                                           intent=intent, entities=entities, status=DeliveryStatus.SENDING, attempts=1,
                                           claimed_at=now))
            return True
        except IntegrityError:
            abandoned = and_(DeliveryRecord.status == "sending", DeliveryRecord.claimed_at < now - self.stale_after)
            with session_scope(self.engine) as session:
                claimed = session.execute(
                    update(DeliveryRecord).where(DeliveryRecord.key == key,
                                                 or_(DeliveryRecord.status == DeliveryStatus.FAILED, abandoned))
                    .values(status=DeliveryStatus.SENDING, attempts=DeliveryRecord.attempts + 1, claimed_at=now, error=None))
                if claimed.rowcount == 1:
                    return True
                status = session.execute(select(DeliveryRecord.status).where(DeliveryRecord.key == key)).scalar()
            if status == DeliveryStatus.SENDING:
                raise DeliveryFailed(f"{key}: another attempt is sending it") from None
            return False

    def _finish(self, key: str, status: str, messages: list | None = None, error: str | None = None) -> None:
        with session_scope(self.engine) as session:
            session.execute(update(DeliveryRecord).where(DeliveryRecord.key == key).values(
                status=status, messages=messages, error=error, sent_at=self.clock() if status == DeliveryStatus.SENT else None))

    def close(self) -> None:
        self.client.close()


def delivered(engine, key_prefix: str = "") -> list[DeliveryRecord]:
    """Delivery records, oldest first (tests, ``linli schedule list``)."""
    with session_scope(engine) as session:
        query = select(DeliveryRecord).order_by(DeliveryRecord.claimed_at, DeliveryRecord.key)
        if key_prefix:
            query = query.where(DeliveryRecord.key.startswith(key_prefix))
        return list(session.execute(query).scalars())
