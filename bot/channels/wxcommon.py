"""What the WeChat Official Account and WeChat Work callbacks share.

Both platforms post XML to a callback URL, wait 5 seconds for the answer and then retry the same
message (up to three times). ``CallbackInput`` implements that contract once:

1. refuse oversized bodies (413) and any DTD or entity declaration (400: no XML entity expansion);
2. check the signature and decrypt (subclass: ``open``), parse with wechatpy (``parse``);
3. claim the message id in the ``ShortTermStore`` so a retry never reaches the dialogue twice
   (a retry of an answered message gets the remembered answer again);
4. run the dialogue turn; if it finishes within ``reply_budget`` seconds (about 4), its replies go
   back passively in the HTTP response, merged into one text message; otherwise the callback
   answers ``success`` at once and the replies follow through the platform's send API.

Rasa's buttons become a numbered list; the user answers with the number (or, on the Official
Account, taps the ``weixin://bizmsgmenu`` link, or types a title), which
``bot.channels.choices.ButtonMemory`` turns back into the payload.
wechatpy is synchronous (requests), so every API call runs in a worker thread.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.session import SessionStorage

from bot.channels import LOCATION_TEXT, PHOTO_TEXT, Direct, Inbound
from bot.channels.choices import ButtonMemory
from bot.channels.dedup import ShortTermStore
from bot.channels.guard import limit, screen_inbound, wording
from bot.config.runtime import runtime_config
from bot.core.text import split_text, utf8_bytes

logger = logging.getLogger(__name__)

TEXT_BYTES = 2048  # both platforms' limit for one text message
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid credential, invalid token, token expired
SUCCESS = "success"

UNSUPPORTED = wording("wechat_unsupported")
VOICE_UNCLEAR = wording("voice_unclear")
SORRY = wording("sorry_try_later")
CHOOSE = wording("choose")


class WeChatAPIError(Exception):
    def __init__(self, errcode: Optional[int], errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class SignatureError(Exception):
    pass


# ------------------------------------------------------------------------------- access tokens
class TTLMemoryStorage(SessionStorage):
    """wechatpy's MemoryStorage ignores ``ttl``; tokens must expire, so this one honours it."""

    def __init__(self) -> None:
        self._data: Dict[str, tuple[Any, float]] = {}

    def get(self, key, default=None):
        value, expires = self._data.get(key, (default, float("inf")))
        return value if expires > time.time() else default

    def set(self, key, value, ttl=None):
        self._data[key] = (value, time.time() + ttl if ttl else float("inf"))

    def delete(self, key):
        self._data.pop(key, None)


def token_session(redis_url: Optional[str]):
    """(session storage, sync Redis client or None): Redis shares one token among all processes."""
    if not redis_url:
        return TTLMemoryStorage(), None
    import redis
    from wechatpy.session.redisstorage import RedisStorage

    client = redis.Redis.from_url(redis_url)
    return RedisStorage(client, prefix="linli:wechatpy"), client


class SharedTokenMixin:
    """Mixed into a wechatpy client: configurable API host, a token every process shares, fetched
    under a lock (thread lock, plus a Redis lock across processes) so a crowd of requests that
    finds the token missing or invalid fetches one new token, not one each."""

    TOKEN_MARGIN = 300  # seconds before expiry a token is considered gone
    # What the wechatpy client this is mixed into provides (annotations only: nothing is shadowed).
    session: Any
    access_token_key: str

    def _share_tokens(self, api_base_url: str, redis_client) -> None:
        self.API_BASE_URL = f"{api_base_url.rstrip('/')}/cgi-bin/"
        self._redis_client = redis_client
        self._thread_lock = threading.Lock()

    def token_request(self) -> tuple[str, dict]:
        raise NotImplementedError

    @contextmanager
    def _refresh_lock(self):
        with self._thread_lock:
            if self._redis_client is None:
                yield
                return
            with self._redis_client.lock(f"linli:wechatpy:lock:{self.access_token_key}", timeout=30,
                                         blocking_timeout=30):
                yield

    def fetch_access_token(self):
        url, params = self.token_request()
        result = self._fetch_access_token(url=url, params=params)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], max(60, expires_in - self.TOKEN_MARGIN))
        return result

    @property
    def access_token(self):
        token = self.session.get(self.access_token_key)
        if token:
            return token
        with self._refresh_lock():
            if not self.session.get(self.access_token_key):
                self.fetch_access_token()
            return self.session.get(self.access_token_key)

    def refresh_access_token(self, stale: Optional[str]) -> None:
        """Replace the token the platform just refused, unless another caller already did."""
        with self._refresh_lock():
            current = self.session.get(self.access_token_key)
            if not current or current == stale:
                self.fetch_access_token()


async def call_api(client: SharedTokenMixin, function: Callable, *args, **kwargs) -> Any:
    """Run a wechatpy call in a thread; on an invalid-token error refresh the token once and retry.
    Other errors (and a second token error) are raised as ``WeChatAPIError``."""
    for attempt in (1, 2):
        stale = client.session.get(client.access_token_key)
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except WeChatClientException as error:
            if attempt == 2 or error.errcode not in TOKEN_ERRORS:
                raise WeChatAPIError(error.errcode, str(error.errmsg)) from error
            logger.info("WeChat refused the access token (%s); fetching a new one", error.errcode)
            await asyncio.to_thread(client.refresh_access_token, stale)


# ------------------------------------------------------------------------------- text and buttons
def split_utf8(text: str, limit: int = TEXT_BYTES) -> List[str]:
    """Pieces WeChat accepts: it counts UTF-8 bytes."""
    return split_text(text, limit, utf8_bytes)


@dataclass
class Said:
    text: str
    buttons: List[Dict[str, Any]]


def render(said: List[Said], links: bool) -> tuple[str, List[Dict[str, Any]]]:
    """One turn's replies as one text, with the last message's buttons as a numbered list."""
    buttons = next((s.buttons for s in reversed(said) if s.buttons), [])
    text = "\n\n".join(s.text.strip() for s in said if s.text.strip())
    if buttons:
        lines = [CHOOSE] + [f"{i}. {_button_label(b, i, links)}" for i, b in enumerate(buttons, 1)]
        text = f"{text}\n\n" + "\n".join(lines) if text else "\n".join(lines)
    return text, buttons


def _button_label(button: Dict[str, Any], index: int, links: bool) -> str:
    title = str(button.get("title") or button.get("payload") or "")
    if not links:
        return title
    content = re.sub(r'[&"<>]', "", title)  # would break the link's query or markup
    return f'<a href="weixin://bizmsgmenu?msgmenucontent={content}&msgmenuid={index}">{title}</a>'


# ------------------------------------------------------------------------------- the callback
class TurnCollector(OutputChannel):
    """Keeps one turn's replies until they go out, passively or through the API."""

    def __init__(self, channel_name: str) -> None:
        self.channel_name = channel_name
        self.said: List[Said] = []

    def name(self) -> Text:  # instance method: one class serves several channels
        return self.channel_name

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        self.said.append(Said(text, []))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]],
                                     **kwargs: Any) -> None:
        self.said.append(Said(text, list(buttons)))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        self.said.append(Said(f"图片：{image}", []))

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        self.said.append(Said(str(attachment), []))


def reject_xml(body: bytes, max_bytes: int) -> Optional[HTTPResponse]:
    """413 for oversized bodies, 400 for DTDs: WeChat never sends one, an attacker does."""
    if len(body) > max_bytes:
        return response.text("request too large", status=413)
    head = body.upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        return response.text("DTDs are not accepted", status=400)
    return None


_DIGITS = re.compile(r"^\d{1,20}$")


def malformed(message) -> bool:
    """Fields the dialogue and the de-duplication rely on, checked before anything is claimed:
    a numeric MsgId and CreateTime, a location with real coordinates."""
    data = message._data
    if any(key in data and not _DIGITS.match(str(data[key])) for key in ("MsgId", "CreateTime")):
        return True
    if message.type == "location":
        try:
            latitude, longitude = float(data.get("Location_X")), float(data.get("Location_Y"))
        except (TypeError, ValueError):
            return True
        return not (-90 <= latitude <= 90 and -180 <= longitude <= 180)
    return False


def translate(message, metadata: Dict[str, Any], menu_payloads: Dict[str, str]):
    """A parsed wechatpy message or event → ``Inbound`` / ``Direct`` / None (nothing to do).
    Text messages are resolved against offered buttons by the caller first."""
    kind = message.type
    if kind == "text":
        text = (message.content or "").strip()
        return Inbound(text, metadata) if text else None
    if kind == "image":
        return Inbound(PHOTO_TEXT, {**metadata, "photo": message.media_id, "photo_url": message.image})
    if kind == "voice":
        recognition = (getattr(message, "recognition", None) or "").strip()
        return Inbound(recognition, {**metadata, "voice": True}) if recognition else Direct(VOICE_UNCLEAR)
    if kind == "location":
        place = {"latitude": float(message.location_x), "longitude": float(message.location_y)}
        if message.label:
            place["label"] = message.label
        return Inbound(LOCATION_TEXT, {**metadata, "location": place})
    if kind == "event":
        return _translate_event(message, metadata, menu_payloads)
    return Direct(UNSUPPORTED)


def _translate_event(event, metadata: Dict[str, Any], menu_payloads: Dict[str, str]):
    name = event.event
    if name in ("subscribe", "subscribe_scan"):
        scene = getattr(event, "scene_id", None) if name == "subscribe_scan" else None
        return Inbound("/greet", {**metadata, "event": "subscribe", "button": True,
                                  **({"scene": scene} if scene else {})})
    if name == "unsubscribe":
        return Inbound("/unsubscribe_notices", {**metadata, "event": "unsubscribe", "button": True}, silent=True)
    if name == "click" and event.key in menu_payloads:
        return Inbound(menu_payloads[event.key], {**metadata, "event": "menu", "button": True})
    return None


class CallbackInput(InputChannel):
    """The callback contract shared by the Official Account and WeChat Work (see the module doc).

    Subclasses set ``settings`` (token, reply_budget, dedup_ttl, max_body_bytes), ``store``,
    ``app_key`` and ``menu_payloads``, and implement ``verify``, ``open``, ``parse``, ``seal``,
    ``reply_xml``, ``base_metadata``, ``deliver`` and ``links``.
    """

    links = False
    clock: Callable[[], float] = staticmethod(time.time)  # the wall clock signatures are dated by
    settings: Any
    store: ShortTermStore
    app_key: str
    menu_payloads: Dict[str, str]

    def _init_callback(self) -> None:
        self.buttons = ButtonMemory(self.store, f"wx:{self.app_key}")
        self._background: set[asyncio.Task] = set()

    # hooks ------------------------------------------------------------------------------------
    def verify(self, request: Request) -> HTTPResponse:
        raise NotImplementedError

    def open(self, request: Request, body: bytes) -> str:
        """Plain XML of the request; ``SignatureError`` when it is not from the platform."""
        raise NotImplementedError

    def parse(self, xml: str):
        raise NotImplementedError

    def seal(self, request: Request, reply_xml: str) -> HTTPResponse:
        raise NotImplementedError

    def reply_xml(self, message, text: str) -> str:
        raise NotImplementedError

    def base_metadata(self, message) -> Dict[str, Any]:
        raise NotImplementedError

    async def deliver(self, user: str, text: str) -> None:
        """Send a text of any length through the platform API (split as the platform needs),
        raising ``WeChatAPIError`` on failure."""
        raise NotImplementedError

    # routes -----------------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"{self.name()}_callback", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            try:
                self.check_fresh(request)
                return self.verify(request)
            except (SignatureError, InvalidSignatureException):
                return response.text("invalid signature", status=403)
            except Exception:
                logger.warning("Refused a malformed %s URL verification", self.name(), exc_info=True)
                return response.text("bad request", status=400)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        return hook

    async def _receive(self, request: Request, on_new_message) -> HTTPResponse:
        started = time.monotonic()
        body = request.body or b""
        refused = reject_xml(body, self.settings.max_body_bytes)
        if refused is not None:
            return refused
        try:
            self.check_fresh(request)
            message = self.parse(self.open(request, body))
        except (SignatureError, InvalidSignatureException):
            return response.text("invalid signature", status=403)
        except Exception:
            logger.warning("Refused a malformed %s callback", self.name())
            return response.text("malformed message", status=400)
        if message is None or not message.source or malformed(message):
            return response.text("malformed message", status=400)
        try:
            return await self._answer(request, body, message, on_new_message, started)
        except RedisError:
            # The replay check and de-duplication live in Redis: with Redis down nothing was claimed
            # or heard, so the user is asked to send again (WeChat's own retries get the same).
            logger.warning("%s: Redis unreachable; the user is asked to send again", self.name())
            return self.seal(request, self.reply_xml(message, runtime_config().system_busy))

    async def _answer(self, request: Request, body: bytes, message, on_new_message, started: float) -> HTTPResponse:
        """A verified, well-formed message: claimed once, heard by the dialogue, answered in time
        (passively) or later through the API."""
        if not await self._first_use(request, body):
            logger.warning("Refused a replayed %s signature with another body", self.name())
            return response.text("invalid signature", status=403)

        key = self._dedup_key(message)
        if not await self.store.claim(key, self.settings.dedup_ttl):
            remembered = await self.store.get(f"{key}:reply")
            return self.seal(request, self.reply_xml(message, remembered)) if remembered else response.text(SUCCESS)

        inbound = await self._inbound(message)
        if inbound is None:
            return response.text(SUCCESS)
        if isinstance(inbound, Direct):
            return await self._passive(request, message, key, inbound.text)
        collector = TurnCollector(self.name())
        turn = asyncio.ensure_future(on_new_message(UserMessage(
            inbound.text, collector, message.source, input_channel=self.name(),
            message_id=str(message.id or key), metadata=inbound.metadata)))
        if inbound.silent:
            self._spawn(self._finish_silently(turn))
            return response.text(SUCCESS)
        remaining = self.settings.reply_budget - (time.monotonic() - started)
        try:
            done, _ = await asyncio.wait({turn}, timeout=max(0.0, remaining))
        except asyncio.CancelledError:  # the platform hung up: its retry will get "success"
            self._spawn(self._deliver_late(turn, collector, message.source))
            raise
        if turn not in done:
            logger.info("%s turn for %s exceeded %.1f s; replying through the API",
                        self.name(), message.source, self.settings.reply_budget)
            self._spawn(self._deliver_late(turn, collector, message.source))
            return response.text(SUCCESS)
        text = await self._turn_text(turn, collector, message.source)
        if not text:
            return response.text(SUCCESS)
        first, *rest = split_utf8(text)
        if rest:
            self._spawn(self._deliver_text(message.source, "\n".join(rest)))
        return await self._passive(request, message, key, first)

    def check_fresh(self, request: Request) -> None:
        """A signature is only as good as its timestamp: one copied from a log an hour ago, or
        made for tomorrow, is refused (``SignatureError``)."""
        stamp = request.args.get("timestamp", "")
        if not stamp.isdigit() or abs(self.clock() - int(stamp)) > limit("max_clock_skew_seconds"):
            raise SignatureError()

    async def _first_use(self, request: Request, body: bytes) -> bool:
        """The platform retries a message with the same signature and the same body; the same
        signature with another body is a replay (plain mode signs no body). Claimed after the
        signature verified, shared through Redis, kept as long as a timestamp is accepted."""
        args = request.args
        key = f"wx:{self.app_key}:nonce:{args.get('timestamp', '')}:{args.get('nonce', '')}"
        digest = hashlib.sha256(body).hexdigest()
        if await self.store.claim(key, 2 * limit("max_clock_skew_seconds"), digest):
            return True
        return await self.store.get(key) == digest

    def _dedup_key(self, message) -> str:
        """MsgId; for events (which have none) FromUserName + CreateTime, as WeChat recommends,
        plus the event and its key: a retry repeats them, a second click in the same second may not."""
        if message.type == "event" or not message.id:
            event = f"{getattr(message, 'event', '')}:{message._data.get('EventKey') or ''}"
            return f"wx:{self.app_key}:event:{message.source}:{message.time}:{event}"
        return f"wx:{self.app_key}:msg:{message.id}"

    async def _inbound(self, message):
        metadata = self.base_metadata(message)
        if message.type == "text":
            menu_id = message._data.get("bizmsgmenuid")
            payload = await self.buttons.resolve(message.source, menu_id or message.content or "", numbers=True)
            if payload:
                return screen_inbound(Inbound(payload, {**metadata, "button": True}))
        heard = translate(message, metadata, self.menu_payloads)
        return screen_inbound(heard) if isinstance(heard, Inbound) else heard

    async def _passive(self, request: Request, message, key: str, text: str) -> HTTPResponse:
        await self.store.put(f"{key}:reply", text, self.settings.dedup_ttl)
        return self.seal(request, self.reply_xml(message, text))

    async def _turn_text(self, turn: asyncio.Future, collector: TurnCollector, user: str) -> str:
        """The finished turn's replies as one text (an apology if the dialogue failed)."""
        try:
            turn.result()
        except Exception:
            logger.exception("Dialogue failed for %s user %s", self.name(), user)
            return SORRY
        text, buttons = render(collector.said, self.links)
        await self.buttons.offer(user, buttons)
        return text

    async def _deliver_late(self, turn: asyncio.Future, collector: TurnCollector, user: str) -> None:
        await asyncio.wait({turn})
        text = await self._turn_text(turn, collector, user)
        if text:
            await self._deliver_text(user, text)

    async def _deliver_text(self, user: str, text: str) -> None:
        try:
            await self.deliver(user, text)
        except WeChatAPIError as error:
            logger.error("%s could not deliver a reply to %s: %s", self.name(), user, error)

    async def _finish_silently(self, turn: asyncio.Future) -> None:
        await asyncio.wait({turn})
        if turn.exception() is not None:
            logger.error("%s silent turn failed", self.name(), exc_info=turn.exception())

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for replies still on their way (tests, graceful shutdown)."""
        while self._background:
            await asyncio.wait(set(self._background))


class ApiOutput(OutputChannel):
    """Proactive messages (``trigger_intent``) through the platform API; errors are raised."""

    def __init__(self, channel: CallbackInput) -> None:
        self.channel = channel

    def name(self) -> Text:
        return self.channel.name()

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, Said(text, []))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]],
                                     **kwargs: Any) -> None:
        await self._send(recipient_id, Said(text, list(buttons)))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, Said(f"图片：{image}", []))

    async def _send(self, recipient_id: Text, said: Said) -> None:
        text, buttons = render([said], self.channel.links)
        if buttons:
            await self.channel.buttons.offer(recipient_id, buttons)
        await self.channel.deliver(recipient_id, text)
