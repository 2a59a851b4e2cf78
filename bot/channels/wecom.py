"""WeChat Work (企业微信) for community staff and resident groups, as the Rasa channel ``wecom``.

Staff talk to Linli through a self-built app: its callback is ``/webhooks/wecom/webhook``, always
encrypted (``wechatpy.enterprise.crypto``), with the same 5-second contract as the Official
Account (``bot.channels.wxcommon.CallbackInput``). Late replies and proactive messages go through
the app message API. Conversation ids are the staff members' user ids; metadata says
``role: staff``.

Resident groups are reached through group robots (群机器人), which only post: wechatpy has no
client for them, so ``GroupRobot`` is a small one on httpx that keeps each robot within the
platform's 20 messages per minute and 2048-byte texts (4096 for markdown). A proactive message to
the conversation id ``robot:<name>`` (a robot named in ``credentials.yml``) goes to that group,
and never with personal details in it.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Text

import httpx
from rasa.core.channels.channel import OutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.enterprise import WeChatClient as WorkWeChatClient
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.replies import TextReply

from bot.channels import known_keys
from bot.channels.dedup import ShortTermStore
from bot.channels.privacy import is_personal
from bot.channels.ratelimit import SendWindows, SlidingWindow, Window
from bot.channels.wechat import load_menu, menu_payloads
from bot.channels.wxcommon import (
    ApiOutput,
    CallbackInput,
    Said,
    SharedTokenMixin,
    WeChatAPIError,
    call_api,
    render,
    split_utf8,
    token_session,
)
from bot.core.settings import get_settings

logger = logging.getLogger(__name__)

CHANNEL = "wecom"
ROBOT_PREFIX = "robot:"
MARKDOWN_BYTES = 4096
ROBOT_BUSY = 45009


def _limit(value: Any, default: tuple[int, float]) -> tuple[int, float]:
    return default if value is None else (int(value[0]), float(value[1]))


@dataclass(frozen=True)
class WeComSettings:
    """The ``wecom`` section of ``credentials.yml`` (see ``credentials.example.yml``)."""

    corp_id: str
    agent_id: int
    secret: str
    token: str
    encoding_aes_key: str
    api_base_url: str = "https://qyapi.weixin.qq.com"
    robots: Dict[str, str] = field(default_factory=dict)
    robot_limit: tuple[int, float] = (20, 60.0)
    redis_url: Optional[str] = None
    reply_budget: float = 4.0
    dedup_ttl: float = 3600.0
    max_body_bytes: int = 64 * 1024
    menu: Optional[str] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeComSettings":
        credentials = dict(credentials or {})
        missing = [k for k in ("corp_id", "agent_id", "secret", "token", "encoding_aes_key") if not credentials.get(k)]
        if missing:
            raise ValueError(f"the wecom channel needs {', '.join(missing)} in credentials.yml")
        if len(credentials["encoding_aes_key"]) != 43:
            raise ValueError("wecom encoding_aes_key must be the 43 characters shown on the platform")
        known = known_keys(cls, credentials, CHANNEL)
        known["agent_id"] = int(known["agent_id"])
        known["robot_limit"] = _limit(credentials.get("robot_limit"), cls.robot_limit)
        known["robots"] = dict(credentials.get("robots") or {})
        return cls(**known)


class WorkClient(SharedTokenMixin, WorkWeChatClient):
    def __init__(self, settings: WeComSettings) -> None:
        session, redis_client = token_session(settings.redis_url or get_settings().redis_url)
        super().__init__(settings.corp_id, settings.secret, session=session, timeout=10, auto_retry=False)
        self._share_tokens(settings.api_base_url, redis_client)

    def token_request(self) -> tuple[str, dict]:
        return f"{self.API_BASE_URL}gettoken", {"corpid": self.corp_id, "corpsecret": self.secret}


class RobotError(Exception):
    pass


class GroupRobot:
    """A group robot's webhook: text and markdown, within 20 messages a minute.

    The window is shared through Redis by every process posting as this robot when Redis is
    configured (``window``), this process's own otherwise; if the platform still answers 45009 (too
    frequent), the message waits ``busy_wait`` seconds and is tried again.
    """

    def __init__(self, url: str, limit: tuple[int, float] = (20, 60.0), busy_wait: Optional[float] = None,
                 retries: int = 3, http: Optional[httpx.AsyncClient] = None,
                 window: Optional[Window] = None) -> None:
        self.url = url
        self.window = window or SlidingWindow(*limit)
        self.busy_wait = limit[1] if busy_wait is None else busy_wait
        self.retries = retries
        self._http = http

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        return self._http

    async def send_text(self, content: str, mentioned_list: Optional[List[str]] = None) -> None:
        for part in split_utf8(content):
            text: Dict[str, Any] = {"content": part}
            if mentioned_list:
                text["mentioned_list"] = mentioned_list
            await self._post({"msgtype": "text", "text": text})

    async def send_markdown(self, content: str) -> None:
        for part in split_utf8(content, MARKDOWN_BYTES):
            await self._post({"msgtype": "markdown", "markdown": {"content": part}})

    async def _post(self, payload: Dict[str, Any]) -> None:
        for attempt in range(self.retries + 1):
            async with self.window.slot():
                reply = await self._client().post(self.url, json=payload)
            reply.raise_for_status()
            result = reply.json()
            code = int(result.get("errcode", 0))
            if code == 0:
                return
            if code != ROBOT_BUSY or attempt == self.retries:
                raise RobotError(f"group robot refused the message: {code} {result.get('errmsg')}")
            logger.warning("Group robot busy (45009); waiting %.0f s", self.busy_wait)
            await asyncio.sleep(self.busy_wait)


class WeComInput(CallbackInput):
    """WeChat Work app callback for staff, plus the group robots for proactive group posts."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeComInput":
        return cls(WeComSettings.from_credentials(credentials))

    def __init__(self, settings: WeComSettings, store: Optional[ShortTermStore] = None) -> None:
        self.settings = settings
        self.store = store or ShortTermStore.from_settings(settings.redis_url)
        self.app_key = f"{settings.corp_id}:{settings.agent_id}"
        self.menu_payloads = menu_payloads(load_menu(settings.menu))
        self.client = WorkClient(settings)
        self.crypto = WeChatCrypto(settings.token, settings.encoding_aes_key, settings.corp_id)
        windows = SendWindows.from_settings("wecom", settings.redis_url)
        self.robots = {name: self._robot(windows, self._robot_url(target)) for name, target in settings.robots.items()}
        self._init_callback()

    def _robot(self, windows: SendWindows, url: str) -> GroupRobot:
        """The platform counts per robot: its window is named after its webhook (hashed, as the
        webhook key is what lets anyone post into the group)."""
        window = windows.window(f"robot:{hashlib.sha1(url.encode()).hexdigest()[:16]}", *self.settings.robot_limit)
        return GroupRobot(url, self.settings.robot_limit, window=window)

    def _robot_url(self, target: str) -> str:
        if target.startswith(("http://", "https://")):
            return target
        return f"{self.settings.api_base_url.rstrip('/')}/cgi-bin/webhook/send?key={target}"

    def get_output_channel(self) -> OutputChannel:
        return WeComOutput(self)

    # callback hooks ---------------------------------------------------------------------------
    def verify(self, request: Request) -> HTTPResponse:
        args = request.args
        echo = self.crypto.check_signature(args.get("msg_signature", ""), args.get("timestamp", ""),
                                           args.get("nonce", ""), args.get("echostr", ""))
        return response.text(echo)

    def open(self, request: Request, body: bytes) -> str:
        args = request.args
        return self.crypto.decrypt_message(body, args.get("msg_signature", ""), args.get("timestamp", ""),
                                           args.get("nonce", ""))

    def parse(self, xml: str):
        return parse_message(xml)

    def seal(self, request: Request, reply_xml: str) -> HTTPResponse:
        sealed = self.crypto.encrypt_message(reply_xml, request.args.get("nonce", ""), request.args.get("timestamp"))
        return response.text(sealed, content_type="application/xml")

    def reply_xml(self, message, text: str) -> str:
        return TextReply(message=message, content=text).render()

    def base_metadata(self, message) -> Dict[str, Any]:
        return {"platform": "wecom", "chat_type": "private", "role": "staff", "message_id": str(message.id or "")}

    # sending ----------------------------------------------------------------------------------
    async def deliver(self, user: str, text: str) -> None:
        for part in split_utf8(text):
            result = await call_api(self.client, self.client.message.send_text, self.settings.agent_id, user, part)
            if result.get("invaliduser"):
                raise WeChatAPIError(81013, f"not a member of the app's visible range: {result['invaliduser']}")

    def robot(self, name: str) -> GroupRobot:
        try:
            return self.robots[name]
        except KeyError:
            raise RobotError(f"no group robot named {name!r} in credentials.yml") from None


class WeComOutput(ApiOutput):
    """Staff members through the app; ``robot:<name>`` through that group's robot."""

    channel: WeComInput

    async def _send(self, recipient_id: Text, said: Said) -> None:
        if not recipient_id.startswith(ROBOT_PREFIX):
            await super()._send(recipient_id, said)
            return
        text, _ = render([Said(said.text, [])], links=False)  # nobody can answer a robot's buttons
        self._refuse_personal(recipient_id, text)
        await self.channel.robot(recipient_id[len(ROBOT_PREFIX):]).send_text(text)

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        """``{"markdown": "..."}`` posts markdown through a robot; anything else is not for WeCom."""
        markdown = json_message.get("markdown")
        if recipient_id.startswith(ROBOT_PREFIX) and isinstance(markdown, str):
            self._refuse_personal(recipient_id, markdown)
            await self.channel.robot(recipient_id[len(ROBOT_PREFIX):]).send_markdown(markdown)
        else:
            await super().send_custom_json(recipient_id, json_message, **kwargs)

    @staticmethod
    def _refuse_personal(recipient_id: str, text: str) -> None:
        if is_personal(text):
            raise RobotError(f"refused to post personal details (phone, room, ticket) into {recipient_id}")
