"""Linli's REST channel (``rest``): local chat, tests and a trusted front end, never an identity.

Rasa's stock ``rest`` channel takes the channel name (``input_channel``) and everything else from the
request body, so a caller could speak as a WeChat Work staff member. This one, at the same route
(``POST /webhooks/rest/webhook``), trusts nothing in the body:

- the channel is always ``rest``; the conversation is ``<sender_prefix><sender>`` (``rest:`` in
  production), so a REST caller never enters another channel's conversation nor takes its id;
- with a ``token`` every request must carry ``Authorization: Bearer <token>``; without one only
  this machine (127.0.0.1) may call, and ``linli run`` refuses a REST channel reachable from
  elsewhere without a token (``bot.cli.serve``);
- client metadata is reduced to what a front end may honestly know (a photo id, a map location,
  a group chat), never ``button`` or ``role``; a ``/intent{…}`` text counts as a button press only
  when it is a payload Linli offered this conversation (``bot.channels.guard``);
- bodies are size-checked before they are read as JSON; anything but an object with a string
  ``sender`` and ``message`` is a 400.
"""
from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import Direct, known_keys
from bot.channels.choices import ButtonMemory
from bot.channels.dedup import ShortTermStore
from bot.channels.guard import limit, screen, wording
from bot.config.runtime import runtime_config
from bot.core.settings import get_settings, is_loopback

logger = logging.getLogger(__name__)

CHANNEL = "rest"
PREFIX = "rest:"
_SENDER = re.compile(r"^[\w.@:-]+$")
_OFFERED_TTL = 86400.0
_OFFERED_KEEP = 50


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class RestSettings:
    """The REST section of the credentials ``linli run`` writes (``bot.runtime.processes``)."""

    token: Optional[str] = None
    sender_prefix: str = PREFIX


class RestOutput(CollectingOutputChannel):
    """Rasa's collector, remembering each conversation's button payloads: only those may later
    come back as ``/intent{…}`` (and only for a day)."""

    def __init__(self, store: ShortTermStore) -> None:
        super().__init__()
        self.store = store

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def _persist_message(self, message: Dict[Text, Any]) -> None:
        await super()._persist_message(message)
        payloads = [str(b.get("payload")) for b in message.get("buttons") or [] if b.get("payload")]
        if payloads:
            await offer(self.store, str(message.get("recipient_id")), payloads)
            await titles(self.store).offer(str(message.get("recipient_id")), message["buttons"])


def titles(store: ShortTermStore) -> ButtonMemory:
    """The last buttons' titles of each REST conversation: typing one is tapping it."""
    return ButtonMemory(store, CHANNEL)


def _offered_key(conversation: str) -> str:
    return f"rest:offered:{conversation}"


async def offer(store: ShortTermStore, conversation: str, payloads: List[str]) -> None:
    known = json.loads(await store.get(_offered_key(conversation)) or "[]")
    kept = [p for p in known if p not in payloads] + payloads
    await store.put(_offered_key(conversation), json.dumps(kept[-_OFFERED_KEEP:], ensure_ascii=False), _OFFERED_TTL)


async def was_offered(store: ShortTermStore, conversation: str, text: str) -> bool:
    return text in json.loads(await store.get(_offered_key(conversation)) or "[]")


def client_metadata(raw: Any) -> Dict[str, Any]:
    """What a front end may tell the dialogue; everything else (``button``, ``role``, nested
    structures of any depth) is dropped without being looked into."""
    if not isinstance(raw, dict):
        return {}
    kept: Dict[str, Any] = {}
    if raw.get("chat_type") in ("private", "group"):
        kept["chat_type"] = raw["chat_type"]
    photo = raw.get("photo")
    if isinstance(photo, str) and 0 < len(photo) <= 512:
        kept["photo"] = photo
    place = raw.get("location")
    if isinstance(place, dict):
        lat, lon = place.get("latitude"), place.get("longitude")
        if isinstance(lat, (int, float)) and not isinstance(lat, bool) and isinstance(lon, (int, float)) \
                and not isinstance(lon, bool) and -90 <= lat <= 90 and -180 <= lon <= 180:
            kept["location"] = {"latitude": float(lat), "longitude": float(lon)}
            label = place.get("label")
            if isinstance(label, str) and label:
                kept["location"]["label"] = label[:limit("rest_metadata_label_chars")]
    return kept


def read_body(body: bytes) -> tuple[str, str, Dict[str, Any]]:
    """(sender, message, metadata) of a request body, or ``BadRequest`` saying what is wrong."""
    if not body:
        raise BadRequest("empty body: send a JSON object with sender and message")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object with sender and message")
    sender, message = data.get("sender"), data.get("message")
    if not isinstance(sender, str) or not _SENDER.match(sender) or len(sender) > limit("max_sender_chars"):
        raise BadRequest("sender must be 1 to 64 letters, digits or . _ - @ :")
    if not isinstance(message, str):
        raise BadRequest("message must be a string")
    return sender, message, client_metadata(data.get("metadata"))


class RestInput(InputChannel):
    """See the module doc. Credentials: ``token`` (optional), ``sender_prefix`` (default ``rest:``)."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestInput":
        known = known_keys(RestSettings, dict(credentials or {}), CHANNEL)
        return cls(RestSettings(token=known.get("token") or None,
                                sender_prefix=str(known.get("sender_prefix", PREFIX) or "")))

    def __init__(self, settings: Optional["RestSettings"] = None, store: Optional[ShortTermStore] = None) -> None:
        settings = settings or RestSettings()
        self.token = settings.token
        self.sender_prefix = settings.sender_prefix
        self.store = store or ShortTermStore.from_settings(get_settings().redis_url)

    def get_output_channel(self) -> OutputChannel:
        """Proactive messages to a REST conversation come back in the API's answer; their buttons
        are remembered like a turn's."""
        return RestOutput(self.store)

    def conversation(self, sender: str) -> str:
        return f"{self.sender_prefix}{sender}"

    def _allowed(self, request: Request) -> bool:
        if self.token:
            given = request.headers.get("Authorization", "")
            return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())
        return is_loopback(request.ip or "")

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("linli_rest_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        return hook

    async def _receive(self, request: Request, on_new_message) -> HTTPResponse:
        if not self._allowed(request):
            return response.json({"error": "unauthorized"}, status=401)
        body = request.body or b""
        if len(body) > limit("rest_max_body_bytes"):
            return response.json({"error": "request too large"}, status=413)
        try:
            sender, text, metadata = read_body(body)
        except BadRequest as error:
            return response.json({"error": str(error)}, status=400)
        conversation = self.conversation(sender)
        output = RestOutput(self.store)
        try:
            issued = await was_offered(self.store, conversation, text)
            typed = None if issued else await titles(self.store).resolve(conversation, text)
        except RedisError:  # the offered buttons live in Redis: down, nothing is heard, the caller is told
            logger.warning("REST: Redis unreachable; the caller is asked to send again")
            return response.json([{"recipient_id": conversation, "text": runtime_config().system_busy}])
        heard = screen(typed or text, metadata, issued=issued or typed is not None)
        if isinstance(heard, Direct):
            await output.send_text_message(conversation, heard.text)
            return response.json(output.messages)
        try:
            await on_new_message(UserMessage(heard.text, output, conversation, input_channel=CHANNEL,
                                             metadata=heard.metadata))
        except Exception:  # the caller gets an answer it can show, not a 500
            logger.exception("Dialogue failed for REST conversation %s", conversation)
            await output.send_text_message(conversation, wording("sorry"))
        with contextlib.suppress(RedisError):  # a turn without buttons: its titles mean nothing now
            if not any(m.get("buttons") for m in output.messages):
                await titles(self.store).offer(conversation, [])
        return response.json(output.messages)
