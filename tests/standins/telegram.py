"""Telegram Bot API stand-in (https://core.telegram.org/bots/api), for python-telegram-bot's base_url.

API side: ``/bot<token>/<method>`` with parameters in the query string, form fields, multipart or
JSON, answered ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description"}``.
It validates what the real API validates for the methods Linli uses, and enforces the flood limits
strictly: at most ``chat`` messages per chat, ``group`` per group and ``overall`` in total within
their sliding windows (defaults: 1/s, 20/min, 30/s). A message beyond them gets
``429 Too Many Requests: retry after N`` with ``parameters.retry_after``, and is not delivered.

Platform side: ``deliver(update)`` posts an update to the registered webhook with the secret token
header, as Telegram does, or queues it for ``getUpdates`` when no webhook is set.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Optional

import aiohttp
from aiohttp import web

from tests.standins.server import Running, serve_aiohttp

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
_JSON_FIELDS = {"reply_markup", "reply_parameters", "allowed_updates", "entities", "link_preview_options",
                "commands"}
_SENDS = {"sendmessage", "sendphoto", "sendlocation", "senddocument", "copymessage", "forwardmessage"}
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass
class TelegramLimits:
    """(messages, seconds) per sliding window."""

    overall: tuple[int, float] = (30, 1.0)
    group: tuple[int, float] = (20, 60.0)
    chat: tuple[int, float] = (1, 1.0)


@dataclass
class Call:
    method: str
    params: dict
    at: float
    status: int
    result: Any = None


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: Optional[int] = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def response(self) -> web.Response:
        body: dict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.code)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class TelegramStandIn:
    token: str = "424242:stand-in-token"
    username: str = "linli_test_bot"
    limits: TelegramLimits = field(default_factory=TelegramLimits)
    allow_http_webhook: bool = True  # the real API insists on HTTPS; tests run on 127.0.0.1

    def __post_init__(self) -> None:
        self.bot_id = int(self.token.split(":")[0])
        self.calls: list[Call] = []
        self.webhook: Optional[dict] = None
        self.commands: Optional[list] = None
        self.blocked: set[int] = set()
        self.forced_retry_after: list[int] = []
        self._updates: list[dict] = []
        self._update_ids = itertools.count(5000)
        self._message_ids = itertools.count(1)
        self._callback_ids: set[str] = set()
        self._overall: deque[float] = deque()
        self._per_chat: dict[Any, deque[float]] = defaultdict(deque)
        self._per_group: dict[Any, deque[float]] = defaultdict(deque)
        self._last_bot_message: dict[int, int] = {}
        self._running: Optional[Running] = None
        self._new_update: Optional[asyncio.Event] = None

    # ---------------------------------------------------------------------------------- lifecycle
    async def start(self) -> "TelegramStandIn":
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._running = await serve_aiohttp(app)
        self._new_update = asyncio.Event()
        return self

    async def stop(self) -> None:
        if self._running:
            await self._running.stop()

    @property
    def base_url(self) -> str:
        return f"{self._running.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self._running.url}/file/bot"

    # ---------------------------------------------------------------------------------- records
    def sent(self, method: str = "sendMessage", chat_id: Any = None) -> list[dict]:
        """Parameters of the accepted calls of ``method`` (optionally to one chat), in order."""
        return [c.params for c in self.calls if c.method.lower() == method.lower() and c.status == 200
                and (chat_id is None or c.params.get("chat_id") == chat_id)]

    def texts(self, chat_id: Any = None) -> list[str]:
        return [p["text"] for p in self.sent("sendMessage", chat_id)]

    @property
    def too_many_requests(self) -> int:
        return sum(1 for c in self.calls if c.status == 429)

    def send_times(self, chat_id: Any = None) -> list[float]:
        return [c.at for c in self.calls if c.method.lower() in _SENDS and c.status == 200
                and (chat_id is None or c.params.get("chat_id") == chat_id)]

    # ------------------------------------------------------------------------------- API server
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return ApiError(404, "Not Found").response()
        params: dict = {}
        try:
            params = await _params(request)
            result = await handler(params)
        except ApiError as error:
            self.calls.append(Call(method, params, time.monotonic(), error.code))
            return error.response()
        self.calls.append(Call(method, params, time.monotonic(), 200, result))
        return web.json_response({"ok": True, "result": result})

    def bot_user(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": "邻里", "username": self.username}

    async def _m_getme(self, params: dict) -> dict:
        return {**self.bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _m_sendmessage(self, params: dict) -> dict:
        chat_id = _required(params, "chat_id")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        _check_markup(params.get("reply_markup"))
        self._admit(chat_id)
        return self._message(chat_id, text=text, reply_markup=params.get("reply_markup"))

    async def _m_sendphoto(self, params: dict) -> dict:
        chat_id = _required(params, "chat_id")
        photo = _required(params, "photo")
        self._admit(chat_id)
        return self._message(chat_id, photo=[{"file_id": f"sent-{photo}"[:100], "file_unique_id": "u1",
                                              "width": 320, "height": 240}])

    async def _m_answercallbackquery(self, params: dict) -> bool:
        query_id = str(_required(params, "callback_query_id"))
        if query_id not in self._callback_ids:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._callback_ids.discard(query_id)
        return True

    async def _m_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or not 1 <= len(commands) <= 100:
            raise ApiError(400, "Bad Request: commands must be a non-empty list")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = commands
        return True

    async def _m_setwebhook(self, params: dict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_deletewebhook(params)
        if not url.startswith("https://") and not self.allow_http_webhook:
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": params.get("allowed_updates"),
                        "max_connections": int(params.get("max_connections") or 40)}
        return True

    async def _m_deletewebhook(self, params: dict) -> bool:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: dict) -> dict:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    async def _m_getupdates(self, params: dict) -> list:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self._updates and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
        return self._updates[: int(params.get("limit") or 100)]

    def _admit(self, chat_id: Any) -> None:
        """Flood control: refuse a message that would break a window; deliver and count it otherwise."""
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if self.forced_retry_after:
            seconds = self.forced_retry_after.pop(0)
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        now = time.monotonic()
        windows = [(self._overall, *self.limits.overall), (self._per_chat[chat_id], *self.limits.chat)]
        if _is_group(chat_id):
            windows.append((self._per_group[chat_id], *self.limits.group))
        for times, limit, period in windows:
            while times and times[0] + period <= now:
                times.popleft()
            if len(times) >= limit:
                seconds = max(1, math.ceil(times[0] + period - now))
                raise ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        for times, _, _ in windows:
            times.append(now)

    def _message(self, chat_id: Any, **content: Any) -> dict:
        message_id = next(self._message_ids)
        self._last_bot_message[chat_id] = message_id
        body = {key: value for key, value in content.items() if value is not None}
        return {"message_id": message_id, "date": int(time.time()), "chat": self.chat(chat_id),
                "from": self.bot_user(), **body}

    # ---------------------------------------------------------------------------- platform side
    @staticmethod
    def chat(chat_id: int) -> dict:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "居民"}
        return {"id": chat_id, "type": "supergroup", "title": "万柳西园邻里群"}

    @staticmethod
    def user(user_id: int) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"}

    def message_update(self, user_id: int, text: Optional[str] = None, *, chat_id: Optional[int] = None,
                       reply_to_bot: bool = False, **content: Any) -> dict:
        """An update with a message, entities for /commands and @mentions filled in as Telegram does."""
        chat_id = chat_id if chat_id is not None else user_id
        message: dict = {"message_id": next(self._message_ids), "date": int(time.time()),
                         "chat": self.chat(chat_id), "from": self.user(user_id), **content}
        if text is not None:
            message["text"] = text
            entities = _entities(text)
            if entities:
                message["entities"] = entities
        if reply_to_bot:
            message["reply_to_message"] = {
                "message_id": self._last_bot_message.get(chat_id, 1), "date": int(time.time()),
                "chat": self.chat(chat_id), "from": self.bot_user(), "text": "请问是哪栋楼？"}
        return {"update_id": next(self._update_ids), "message": message}

    def photo_update(self, user_id: int, caption: Optional[str] = None, **kwargs: Any) -> dict:
        sizes = [{"file_id": f"photo-{w}", "file_unique_id": f"u{w}", "width": w, "height": w * 3 // 4,
                  "file_size": w * 100} for w in (90, 320, 1280, 800)]
        content = {"photo": sizes, **({"caption": caption} if caption else {})}
        return self.message_update(user_id, **content, **kwargs)

    def location_update(self, user_id: int, latitude: float, longitude: float, **kwargs: Any) -> dict:
        return self.message_update(user_id, location={"latitude": latitude, "longitude": longitude}, **kwargs)

    def callback_update(self, user_id: int, data: str, chat_id: Optional[int] = None) -> dict:
        chat_id = chat_id if chat_id is not None else user_id
        query_id = f"cq{next(self._update_ids)}"
        self._callback_ids.add(query_id)
        message = {"message_id": self._last_bot_message.get(chat_id, 1), "date": int(time.time()),
                   "chat": self.chat(chat_id), "from": self.bot_user(), "text": "请选择"}
        return {"update_id": next(self._update_ids),
                "callback_query": {"id": query_id, "from": self.user(user_id), "chat_instance": "ci",
                                   "message": message, "data": data}}

    def answered_callbacks(self) -> list[str]:
        return [str(p["callback_query_id"]) for p in self.sent("answerCallbackQuery")]

    async def deliver(self, update: dict, secret: Optional[str] = None) -> Optional[tuple[int, str]]:
        """Post ``update`` to the webhook (with its secret, or ``secret`` to forge one); queue it for
        ``getUpdates`` when there is no webhook."""
        if self.webhook is None:
            self._updates.append(update)
            self._new_update.set()
            return None
        token = secret if secret is not None else self.webhook.get("secret_token")
        headers = {SECRET_HEADER: token} if token else {}
        async with aiohttp.ClientSession() as session:
            async with session.post(self.webhook["url"], json=update, headers=headers) as reply:
                status, body = reply.status, await reply.text()
        if status == 200 and reply.content_type == "application/json":
            await self._webhook_reply(json.loads(body))
        return status, body

    async def _webhook_reply(self, request: dict) -> None:
        """The Bot API's "making requests when getting updates": a webhook may answer with one
        method call (``{"method": "sendMessage", …}``), which Telegram then performs."""
        method, params = str(request.get("method") or ""), {k: v for k, v in request.items() if k != "method"}
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is not None:
            self.calls.append(Call(method, params, time.monotonic(), 200, await handler(params)))


def _is_group(chat_id: Any) -> bool:
    return isinstance(chat_id, int) and chat_id < 0


def _required(params: dict, name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise ApiError(400, f"Bad Request: {name} is empty")
    return value


def _check_markup(markup: Any) -> None:
    if markup is None:
        return
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardMarkup expected")
    for button in itertools.chain.from_iterable(rows):
        if not isinstance(button, dict) or not button.get("text"):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed "
                                "in the inline keyboard")
        actions = [k for k in ("callback_data", "url", "switch_inline_query", "login_url", "pay") if k in button]
        if len(actions) != 1:
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: exactly one action expected")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


async def _params(request: web.Request) -> dict:
    params: dict = dict(request.query)
    if request.content_type == "application/json":
        try:
            params.update(await request.json())
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON") from None
    elif request.can_read_body:
        for key, value in (await request.post()).items():
            params[key] = value if isinstance(value, str) else f"<file {value.filename}>"
    for key in _JSON_FIELDS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
    if isinstance(params.get("chat_id"), str) and re.fullmatch(r"-?\d+", params["chat_id"]):
        params["chat_id"] = int(params["chat_id"])
    return params


def _entities(text: str) -> list[dict]:
    """bot_command at the start and @mentions anywhere, with UTF-16 offsets as the Bot API uses."""
    entities = []
    command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))})
    for mention in re.finditer(r"(?<![A-Za-z0-9_/])@[A-Za-z0-9_]{5,32}", text):
        if command and mention.start() < command.end():
            continue
        entities.append({"type": "mention", "offset": utf16_len(text[:mention.start()]),
                         "length": utf16_len(mention.group(0))})
    return entities
