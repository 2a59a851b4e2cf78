"""Telegram through python-telegram-bot 22, as the Rasa channel ``linli_telegram``.

Rasa's own ``telegram`` channel is built on aiogram; this one replaces it (and never imports
aiogram). Updates arrive on ``POST /webhooks/linli_telegram/webhook``, either from Telegram itself
(webhook mode, checked with the ``X-Telegram-Bot-Api-Secret-Token`` header) or from
``poll_updates`` (polling mode for a pilot without a public URL), which forwards what it fetches to
the same endpoint. Replies go out through ``telegram.ext.ExtBot`` with ``LinliRateLimiter``.

Conversation ids: a private chat is the user id (equal to the chat id); in a group each member
has their own conversation ``"<chat id>:<user id>"`` so two neighbours never share a form. Replies
within a turn go to the group; proactive messages (follow-ups, ticket progress) to such a
conversation go to the member privately, as the group was promised; a bare group id (a negative
number) is the group itself, for notices. In groups the bot answers only commands, mentions and replies to
itself, and ``TelegramOutput`` never posts anything personal there (see ``bot.channels.privacy``).
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

import httpx
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import MessageLimit
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.channels import LOCATION_TEXT, PHOTO_TEXT, Direct, Inbound, known_keys
from bot.channels.choices import ButtonMemory
from bot.channels.dedup import ShortTermStore
from bot.channels.guard import edge_config, screen_inbound, wording
from bot.channels.privacy import group_notice, is_personal
from bot.channels.ratelimit import SendWindows
from bot.config.runtime import runtime_config
from bot.core.text import find_ticket_id, utf16_units
from bot.core.text import split_text as _split
from bot.nlu.commands import is_command_name as is_staff_command

logger = logging.getLogger(__name__)

CHANNEL = "linli_telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
CALLBACK_DATA_BYTES = 64
SIGNATURE_CHARS = 11  # 66 bits of HMAC-SHA256 in callback data

UNSUPPORTED = wording("telegram_unsupported")
COMMAND_HELP = wording("telegram_command_help")
MOVE_TO_PRIVATE = wording("move_to_private")
PRIVATE_BUTTON = wording("private_button")
BUTTON_EXPIRED = wording("button_expired")
SORRY = wording("sorry_try_later")

#: Slash commands and what the dialogue hears for them (arguments, when given, are said instead).
COMMAND_PAYLOADS = {
    "start": "/greet",
    "help": "/help",
    "report": "/report_issue",
    "status": "/check_status",
    "subscribe": "/subscribe_notices",
    "unsubscribe": "/unsubscribe_notices",
}
#: The command menu Telegram shows (``setMyCommands``).
BOT_COMMANDS = [(name, str(description)) for name, description in edge_config()["telegram_commands"].items()]
#: Commands that always lead to personal details: in a group they get the deep link instead.
PRIVATE_ONLY_COMMANDS = {"report": "report", "status": "status"}


def _limit(value: Any, default: tuple[int, float]) -> tuple[int, float]:
    if value is None:
        return default
    limit, period = value
    return int(limit), float(period)


@dataclass(frozen=True)
class TelegramSettings:
    """The ``linli_telegram`` section of ``credentials.yml`` (see ``credentials.example.yml``)."""

    token: str
    secret_token: str
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    bot_username: Optional[str] = None
    redis_url: Optional[str] = None
    overall_limit: tuple[int, float] = (30, 1.0)
    group_limit: tuple[int, float] = (20, 60.0)
    chat_limit: tuple[int, float] = (1, 1.0)
    max_retries: int = 3
    connection_pool_size: int = 64
    dedup_ttl: float = 86400.0
    max_body_bytes: int = 1_000_000

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramSettings":
        credentials = dict(credentials or {})
        if not credentials.get("token"):
            TelegramInput.raise_missing_credentials_exception()
        if not credentials.get("secret_token"):
            raise ValueError("linli_telegram needs a secret_token: without it anyone can post forged updates")
        limits = credentials.pop("rate_limits", None) or {}
        known = known_keys(cls, credentials, CHANNEL)
        known.update(overall_limit=_limit(limits.get("overall"), cls.overall_limit),
                     group_limit=_limit(limits.get("group"), cls.group_limit),
                     chat_limit=_limit(limits.get("chat"), cls.chat_limit))
        return cls(**known)

    @property
    def bot_id(self) -> str:
        return self.token.split(":", 1)[0]


def _is_group(chat_id: Any) -> bool:
    """Telegram gives groups, supergroups and channels negative ids; ``@name`` is a public one."""
    if isinstance(chat_id, str) and chat_id.startswith("@"):
        return True
    with contextlib.suppress(TypeError, ValueError):
        return int(chat_id) < 0
    return False


class LinliRateLimiter(AIORateLimiter):
    """AIORateLimiter's 429 handling (pause everything for ``retry_after``, then retry) with strict
    windows for Telegram's limits: about 30 messages/s overall, 20/min per group, 1/s per chat.

    AIORateLimiter's own limiters are leaky buckets that allow a full burst on top of the steady
    rate, so they are switched off in favour of sliding windows, kept in Redis when it is configured
    so that every process sending as this bot shares them (``bot.channels.ratelimit``).
    """

    def __init__(self, settings: TelegramSettings) -> None:
        super().__init__(overall_max_rate=0, group_max_rate=0, max_retries=settings.max_retries)
        windows = SendWindows.from_settings(f"telegram:{settings.bot_id}", settings.redis_url)
        self._overall = windows.window("overall", *settings.overall_limit)
        self._groups = windows.pool("group", *settings.group_limit)
        self._chats = windows.pool("chat", *settings.chat_limit)

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        chat_id = data.get("chat_id")
        if chat_id is None:
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        async with contextlib.AsyncExitStack() as stack:
            # Narrowest window first, so a message waiting for its chat holds no overall slot.
            await stack.enter_async_context(self._chats[str(chat_id)].slot())
            if _is_group(chat_id):
                await stack.enter_async_context(self._groups[str(chat_id)].slot())
            await stack.enter_async_context(self._overall.slot())
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


def build_bot(settings: TelegramSettings) -> ExtBot:
    """A bot that does no network work until ``initialize()`` in the running loop."""
    return ExtBot(
        settings.token,
        base_url=settings.base_url,
        base_file_url=settings.base_file_url,
        request=HTTPXRequest(connection_pool_size=settings.connection_pool_size, pool_timeout=30.0,
                             read_timeout=15.0),
        get_updates_request=HTTPXRequest(connection_pool_size=1),
        rate_limiter=LinliRateLimiter(settings),
    )


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> List[str]:
    """Pieces Telegram accepts: it counts UTF-16 code units."""
    return _split(text, limit, utf16_units)


class TelegramInput(InputChannel):
    """Webhook endpoint and message translation for Telegram."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramInput":
        return cls(TelegramSettings.from_credentials(credentials))

    def __init__(self, settings: TelegramSettings, store: Optional[ShortTermStore] = None) -> None:
        self.settings = settings
        self.bot = build_bot(settings)
        self.store = store or ShortTermStore.from_settings(settings.redis_url)
        self.buttons = ButtonMemory(self.store, f"tg:{settings.bot_id}")
        self._username: Optional[str] = None
        self._ready_lock = asyncio.Lock()

    # ----------------------------------------------------------------------------------- lifecycle
    async def username(self) -> str:
        """The bot's @username; the first call initializes the bot (``getMe``) in this loop."""
        if self._username is None:
            async with self._ready_lock:
                if self._username is None:
                    await self.bot.initialize()
                    self._username = self.settings.bot_username or self.bot.username
        return self._username

    async def deep_link(self, payload: str = "report") -> str:
        return f"https://t.me/{await self.username()}?start={payload}"

    def get_output_channel(self) -> OutputChannel:
        """For proactive messages (``trigger_intent``): no network here."""
        return TelegramOutput(self, proactive=True)

    # ------------------------------------------------------------------------------------- webhook
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("linli_telegram_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        return hook

    async def _receive(self, request: Request, on_new_message) -> HTTPResponse:
        secret = (request.headers.get(SECRET_HEADER) or "").encode()
        if not hmac.compare_digest(secret, self.settings.secret_token.encode()):
            return response.text("forbidden", status=403)
        if len(request.body or b"") > self.settings.max_body_bytes:
            return response.text("update too large", status=413)
        update = self._parse(request.body)
        if update is None:
            return response.text("malformed update", status=400)
        try:
            first = await self.store.claim(f"tg:{self.settings.bot_id}:update:{update.update_id}",
                                           self.settings.dedup_ttl)
        except RedisError:
            return self._busy(update)
        if not first:
            return response.text("duplicate")
        try:
            # Shielded: if Telegram hangs up, the turn (which may be filing a ticket) still completes.
            await asyncio.shield(self.handle(update, on_new_message))
        except Exception:  # Telegram would re-deliver a failing update forever: log it and move on.
            logger.exception("Telegram update %s failed", update.update_id)
        return response.text("ok")

    @staticmethod
    def _busy(update: Update) -> HTTPResponse:
        """With Redis down (de-duplication, buttons, send limits) nothing was heard: the sender is
        asked to send again, in the webhook's own answer (Telegram performs a method call returned
        there), which needs neither Redis nor a send of our own."""
        logger.warning("Telegram update %s: Redis unreachable; the sender is asked to send again", update.update_id)
        chat = update.effective_chat
        if chat is None:
            return response.text("busy")
        return response.json({"method": "sendMessage", "chat_id": chat.id, "text": runtime_config().system_busy})

    def _parse(self, body: bytes) -> Optional[Update]:
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                return None
            return Update.de_json(data, self.bot)
        except Exception:
            logger.warning("Refused a malformed Telegram update")
            return None

    # ------------------------------------------------------------------------------- translation
    async def handle(self, update: Update, on_new_message) -> None:
        if update.callback_query is not None:
            await self._on_callback(update.callback_query, on_new_message)
            return
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        username = await self.username()
        private = message.chat.type == "private"
        if not private and not self._addressed(message, username):
            return
        result = await self._translate(message, username, private)
        sender = self._sender(message.chat, message.from_user.id)
        if isinstance(result, Inbound):
            result = screen_inbound(await self._typed_choice(sender, result))
        output = TelegramOutput(self, reply_to=None if private else message.message_id)
        if isinstance(result, Direct):
            await output.send_direct(sender, result)
        elif result is not None:
            await self._dispatch(on_new_message, result, output, sender, message.message_id)

    async def _typed_choice(self, sender: str, inbound: Inbound) -> Inbound:
        """A button's title typed out is that button pressed (``bot.channels.choices``)."""
        if inbound.metadata.get("command") or inbound.metadata.get("button"):
            return inbound
        payload = await self.buttons.resolve(sender, inbound.text)
        return Inbound(payload, {**inbound.metadata, "button": True}) if payload else inbound

    async def _dispatch(self, on_new_message, inbound: Inbound, output: "TelegramOutput", sender: str,
                        message_id: int | str) -> None:
        try:
            await on_new_message(UserMessage(inbound.text, output, sender, input_channel=CHANNEL,
                                             message_id=f"tg{message_id}", metadata=inbound.metadata))
        except Exception:
            logger.exception("Dialogue failed for Telegram conversation %s", sender)
            await output.send_direct(sender, Direct(SORRY))
        if not output.offered:  # a turn without buttons: the last ones' titles mean nothing now
            await self.buttons.offer(sender, [])

    @staticmethod
    def _sender(chat, user_id: int) -> str:
        return str(user_id) if chat is None or chat.type == "private" else f"{chat.id}:{user_id}"

    def _addressed(self, message: Message, username: str) -> bool:
        """Commands, @mentions and replies to the bot; everything else in a group is not for us."""
        command = _command(message, username)
        if command is not None:
            return command[0] is not None
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and \
                str(replied.from_user.id) == self.settings.bot_id:
            return True
        return _mentions(message, username, self.settings.bot_id)

    async def _translate(self, message: Message, username: str, private: bool):
        metadata = {"platform": "telegram", "chat_type": "private" if private else "group",
                    "message_id": message.message_id}
        if not private:
            metadata["private_link"] = await self.deep_link("report")
        command = _command(message, username)
        if command is not None:
            name, argument = command
            if name is None:  # another bot's command: none of ours (as _command would answer)
                return Direct(COMMAND_HELP)
            return await self._command(name, argument, metadata, private)
        text = _without_mention(message.text or message.caption or "", username).strip()
        if message.photo:
            largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
            return Inbound(text or PHOTO_TEXT, {**metadata, "photo": largest.file_id})
        location = message.location or (message.venue.location if message.venue else None)
        if location is not None:
            place: Dict[str, Any] = {"latitude": location.latitude, "longitude": location.longitude}
            if message.venue:
                place["label"] = message.venue.title
            return Inbound(LOCATION_TEXT, {**metadata, "location": place})
        if message.contact is not None and private and message.from_user is not None \
                and message.contact.user_id == message.from_user.id:
            return Inbound(re.sub(r"^\+?86", "", message.contact.phone_number or ""), metadata)
        if message.text is not None:
            return Inbound(text, metadata) if text else Direct(COMMAND_HELP)
        return Direct(UNSUPPORTED)

    async def _command(self, name: str, argument: str, metadata: Dict[str, Any], private: bool):
        if name not in COMMAND_PAYLOADS and is_staff_command(name):
            # Staff commands ("/list overdue") are for the dialogue, which checks who is asking.
            return Inbound(f"/{name} {argument}".strip(), {**metadata, "command": name})
        if name not in COMMAND_PAYLOADS:
            return Direct(COMMAND_HELP)
        if not private and name in PRIVATE_ONLY_COMMANDS:
            return Direct(MOVE_TO_PRIVATE, (PRIVATE_BUTTON, await self.deep_link(PRIVATE_ONLY_COMMANDS[name])))
        metadata = {**metadata, "command": name, "button": not argument or name == "start"}
        if name == "start":
            return Inbound(_start_payload(argument), metadata)
        if name == "status" and (ticket := find_ticket_id(argument)):
            return Inbound(f'/check_status{{"ticket_id": "{ticket}"}}', {**metadata, "button": True})
        return Inbound(argument or COMMAND_PAYLOADS[name], metadata)

    async def _on_callback(self, query: CallbackQuery, on_new_message) -> None:
        with contextlib.suppress(TelegramError):  # the spinner stops either way after a while
            await self.bot.answer_callback_query(query.id)
        chat = query.message.chat if query.message is not None else None
        sender = self._sender(chat, query.from_user.id)
        output = TelegramOutput(self)
        payload = await self._button_payload(query.data or "")
        if payload is None:
            await output.send_direct(sender, Direct(BUTTON_EXPIRED))
            return
        private = chat is None or chat.type == "private"
        metadata = {"platform": "telegram", "chat_type": "private" if private else "group", "button": True}
        if not private:
            metadata["private_link"] = await self.deep_link("report")
        heard = screen_inbound(Inbound(payload, metadata))
        if isinstance(heard, Direct):
            await output.send_direct(sender, heard)
            return
        await self._dispatch(on_new_message, heard, output, sender, query.id)

    # ---------------------------------------------------------------------------- button payloads
    def _mac(self, payload: str) -> str:
        digest = hmac.new(self.settings.secret_token.encode(), payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest)[:SIGNATURE_CHARS].decode()

    async def callback_data(self, payload: str) -> str:
        """Callback data Linli can recognise as its own: a modified Telegram client can send any
        data with a button press. Short payloads are signed (``s:<mac>:<payload>``, keyed with the
        webhook secret); longer ones than Telegram's 64 bytes are parked in the store (``cb:<key>``)."""
        signed = f"s:{self._mac(payload)}:{payload}"
        if len(signed.encode()) <= CALLBACK_DATA_BYTES:
            return signed
        key = hashlib.sha1(payload.encode()).hexdigest()[:20]
        await self.store.put(f"tg:{self.settings.bot_id}:button:{key}", payload, 30 * 86400)
        return f"cb:{key}"

    async def _button_payload(self, data: str) -> Optional[str]:
        """The payload behind callback data Linli issued; None for anything else."""
        if data.startswith("s:"):
            mac, _, payload = data[2:].partition(":")
            return payload if payload and hmac.compare_digest(mac, self._mac(payload)) else None
        if data.startswith("cb:"):
            return await self.store.get(f"tg:{self.settings.bot_id}:button:{data[3:]}")
        return None


def _command(message: Message, username: str) -> Optional[tuple[Optional[str], str]]:
    """``(name, argument)`` for ``/name@bot argument``; name is None when another bot is meant."""
    text = message.text or ""
    for entity in message.entities or ():
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            word = message.parse_entity(entity)
            name, _, target = word[1:].partition("@")
            if target and target.lower() != username.lower():
                return None, ""
            return name.lower(), text[len(word):].strip()
    return None


def _mentions(message: Message, username: str, bot_id: str) -> bool:
    entities = message.parse_entities() if message.text else message.parse_caption_entities()
    for entity, value in entities.items():
        if entity.type == MessageEntity.MENTION and value[1:].lower() == username.lower():
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and str(entity.user.id) == bot_id:
            return True
    return False


def _without_mention(text: str, username: str) -> str:
    return re.sub(rf"@{re.escape(username)}\b", "", text, flags=re.IGNORECASE)


def _start_payload(argument: str) -> str:
    """Deep-link payloads: ``report``, ``status`` / ``status_GD…``, ``subscribe``; else a greeting."""
    argument = argument.strip()
    if argument == "report":
        return "/report_issue"
    if argument.startswith("status"):
        ticket = find_ticket_id(argument)
        return f'/check_status{{"ticket_id": "{ticket}"}}' if ticket else "/check_status"
    if argument == "subscribe":
        return "/subscribe_notices"
    return "/greet"


class TelegramOutput(OutputChannel):
    """Replies within a turn, or proactive messages (``proactive=True``).

    A failed reply is logged and must not abort its turn (whose ticket may already exist); a
    failed proactive message raises, because its caller needs to know it did not go out. A
    proactive message to a group member's conversation goes to the member privately.
    """

    def __init__(self, channel: TelegramInput, reply_to: Optional[int] = None, proactive: bool = False):
        self.channel = channel
        self.bot = channel.bot
        self.reply_to = reply_to
        self.proactive = proactive
        self.offered = False  # whether this turn offered buttons (their titles may be typed next)

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    def chat_id(self, recipient_id: Text) -> int:
        chat, _, member = str(recipient_id).partition(":")
        return int(member if member and self.proactive else chat)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send_text(recipient_id, text, None)

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]],
                                     **kwargs: Any) -> None:
        titles = " ".join(str(b.get("title", "")) for b in buttons)
        if _is_group(self.chat_id(recipient_id)) and is_personal(f"{text} {titles}"):
            await self._send_text(recipient_id, text, None)  # replaced by the privacy notice
            return
        await self._send_text(recipient_id, text, await self._keyboard(buttons))
        self.offered = True
        await self.channel.buttons.offer(str(recipient_id), buttons)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._call(self.bot.send_photo, chat_id=self.chat_id(recipient_id), photo=image,
                         reply_parameters=self._reply_parameters())

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self._send_text(recipient_id, str(attachment), None)

    async def send_direct(self, recipient_id: Text, direct: Direct) -> None:
        markup = None
        if direct.link_button:
            title, url = direct.link_button
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(title, url=url)]])
        await self._send_text(recipient_id, direct.text, markup)

    async def _send_text(self, recipient_id: Text, text: Text, markup: Optional[InlineKeyboardMarkup]) -> None:
        chat = self.chat_id(recipient_id)
        if _is_group(chat) and is_personal(text):
            logger.info("Withheld a personal reply from group %s", chat)
            link = await self.channel.deep_link("report")
            text, markup = group_notice(None), InlineKeyboardMarkup([[InlineKeyboardButton(PRIVATE_BUTTON, url=link)]])
        parts = split_text(text) or [" "]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await self._call(self.bot.send_message, chat_id=chat, text=part,
                             reply_markup=markup if last else None,
                             reply_parameters=self._reply_parameters() if index == 0 else None)

    def _reply_parameters(self) -> Optional[ReplyParameters]:
        if self.reply_to is None:
            return None
        return ReplyParameters(self.reply_to, allow_sending_without_reply=True)

    async def _keyboard(self, buttons: List[Dict[Text, Any]]) -> InlineKeyboardMarkup:
        row_size = 1 if any(len(str(b.get("title", ""))) > 8 for b in buttons) else 2
        keys = []
        for button in buttons:
            title = str(button.get("title") or button.get("payload") or "")
            if button.get("url"):
                keys.append(InlineKeyboardButton(title, url=button["url"]))
            else:
                payload = str(button.get("payload") or title)
                keys.append(InlineKeyboardButton(title, callback_data=await self.channel.callback_data(payload)))
        return InlineKeyboardMarkup([keys[i:i + row_size] for i in range(0, len(keys), row_size)])

    async def _call(self, method, **kwargs) -> Any:
        await self.channel.username()
        try:
            return await method(**kwargs)
        except Forbidden:
            logger.warning("Telegram refused to deliver to chat %s (blocked or removed)", kwargs.get("chat_id"))
            if self.proactive:
                raise
        except TelegramError:
            logger.exception("Telegram send to chat %s failed", kwargs.get("chat_id"))
            if self.proactive:
                raise
        return None


async def poll_updates(settings: TelegramSettings, webhook_url: str, stop: Optional[asyncio.Event] = None,
                       poll_timeout: int = 25) -> None:
    """Polling mode: fetch updates with ``getUpdates`` and hand each to the running Rasa server's
    webhook, so both modes share one code path. An update is confirmed (offset advanced) only
    once the server took it; the server de-duplicates a re-sent one."""
    stop = stop or asyncio.Event()
    bot = build_bot(settings)
    async with bot, httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=5.0)) as http:
        await bot.delete_webhook()
        await bot.set_my_commands(BOT_COMMANDS)
        offset: Optional[int] = None
        while not stop.is_set():
            updates = await _next_updates(bot, offset, poll_timeout, stop)
            for update in updates:
                if not await _forward(http, webhook_url, settings.secret_token, update.to_dict(), stop):
                    return
                offset = update.update_id + 1


async def _next_updates(bot: ExtBot, offset: Optional[int], poll_timeout: int, stop: asyncio.Event) -> list:
    fetch = asyncio.ensure_future(bot.get_updates(offset=offset, timeout=poll_timeout,
                                                  allowed_updates=ALLOWED_UPDATES))
    stopped = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if fetch not in done:
        fetch.cancel()
        return []
    try:
        return list(fetch.result())
    except RetryAfter as error:
        wait = error.retry_after
        await asyncio.sleep(wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait))
    except NetworkError:
        logger.warning("getUpdates failed; retrying", exc_info=True)
        await asyncio.sleep(2)
    return []


async def _forward(http: httpx.AsyncClient, url: str, secret: str, update: dict, stop: asyncio.Event) -> bool:
    """Deliver one update to the local webhook, waiting for the server to come up; False if stopped."""
    delay = 1.0
    while not stop.is_set():
        try:
            reply = await http.post(url, json=update, headers={SECRET_HEADER: secret})
            if reply.status_code < 500:
                if reply.status_code >= 400:
                    logger.error("Webhook refused update %s: %s %s", update.get("update_id"),
                                 reply.status_code, reply.text)
                return True
        except httpx.HTTPError:
            logger.info("Rasa server not reachable at %s yet", url)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 30.0)
    return False
