"""WeChat Official Account (公众号) through wechatpy, as the Rasa channel ``wechat``.

Callback URL: ``/webhooks/wechat/webhook`` (GET for the URL check, POST for messages), in plain,
compatible or safe (AES) mode; the callback contract (signatures, de-duplication, the 5-second
deadline) is ``bot.channels.wxcommon.CallbackInput``. Replies that miss the deadline, and proactive
messages, go through the customer-service message API. That API reaches only users who wrote
recently (45015 outside the 48-hour window, 45047 once the window's message quota is used up);
those messages fall back to the configured template message. The access token is shared through
Redis (wechatpy's ``RedisStorage``) when ``LINLI_REDIS_URL`` is set.

The menu (``linli wechat menu``) comes from a YAML file (``bot/data/wechat_menu.yml``); the same
file maps each click key to what the dialogue hears.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Optional, Text
from zoneinfo import ZoneInfo

import yaml
from rasa.core.channels.channel import OutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.channels import known_keys
from bot.channels.dedup import ShortTermStore
from bot.channels.wxcommon import (
    ApiOutput,
    CallbackInput,
    SharedTokenMixin,
    SignatureError,
    WeChatAPIError,
    call_api,
    split_utf8,
    token_session,
)
from bot.core.settings import PACKAGE_DATA, get_settings

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
DEFAULT_MENU = PACKAGE_DATA / "wechat_menu.yml"
OUT_OF_WINDOW = {45015, 45047}  # user silent for 48 h / window quota used up


@dataclass(frozen=True)
class TemplateFallback:
    """A template message standing in for a customer-service message the window no longer allows."""

    template_id: str
    data: Dict[str, str]
    url: Optional[str] = None
    text_limit: int = 20

    def render(self, text: str, timezone: str) -> Dict[str, Dict[str, str]]:
        cut = text if len(text) <= self.text_limit else text[: self.text_limit - 1] + "…"
        now = datetime.now(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
        return {name: {"value": str(value).format(text=cut, time=now)} for name, value in self.data.items()}


@dataclass(frozen=True)
class WeChatSettings:
    """The ``wechat`` section of ``credentials.yml`` (see ``credentials.example.yml``)."""

    appid: str
    secret: str
    token: str
    encoding_aes_key: Optional[str] = None
    api_base_url: str = "https://api.weixin.qq.com"
    redis_url: Optional[str] = None
    reply_budget: float = 4.0
    dedup_ttl: float = 3600.0
    max_body_bytes: int = 64 * 1024
    menu: Optional[str] = None
    fallback_template: Optional[TemplateFallback] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatSettings":
        credentials = dict(credentials or {})
        missing = [k for k in ("appid", "secret", "token") if not credentials.get(k)]
        if missing:
            raise ValueError(f"the wechat channel needs {', '.join(missing)} in credentials.yml")
        key = credentials.get("encoding_aes_key")
        if key and len(key) != 43:
            raise ValueError("wechat encoding_aes_key must be the 43 characters shown on the platform")
        known = known_keys(cls, credentials, CHANNEL)
        template = known.pop("fallback_template", None)
        return cls(**known, fallback_template=TemplateFallback(**template) if template else None)


class OfficialAccountClient(SharedTokenMixin, WeChatClient):
    def __init__(self, settings: WeChatSettings) -> None:
        session, redis_client = token_session(settings.redis_url or get_settings().redis_url)
        super().__init__(settings.appid, settings.secret, session=session, timeout=10, auto_retry=False)
        self._share_tokens(settings.api_base_url, redis_client)

    def token_request(self) -> tuple[str, dict]:
        return f"{self.API_BASE_URL}token", {"grant_type": "client_credential", "appid": self.appid,
                                             "secret": self.secret}


# ---------------------------------------------------------------------------------------- menu
def load_menu(path: Optional[str | Path] = None) -> Dict[str, Any]:
    menu = yaml.safe_load(Path(path or DEFAULT_MENU).read_text(encoding="utf-8"))
    validate_menu(menu)
    return menu


def validate_menu(menu: Dict[str, Any]) -> None:
    """The platform's rules, checked before calling it: 1–3 buttons of up to 5 sub-buttons, names
    up to 16 (top) / 60 (sub) bytes, click keys up to 128 bytes, view buttons with a URL."""
    buttons = (menu or {}).get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise ValueError("a WeChat menu has 1 to 3 top-level buttons")
    for button in buttons:
        subs = button.get("sub_button")
        _check_button(button, 16, container=subs is not None)
        if subs is not None:
            if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
                raise ValueError(f"menu '{button.get('name')}' needs 1 to 5 sub-buttons")
            for sub in subs:
                _check_button(sub, 60, container=False)


def _check_button(button: Dict[str, Any], name_bytes: int, container: bool) -> None:
    name = str(button.get("name") or "")
    if not name or len(name.encode()) > name_bytes:
        raise ValueError(f"menu button name '{name}' must be 1 to {name_bytes} bytes")
    if container:
        return
    kind = button.get("type")
    if kind == "click":
        key = str(button.get("key") or "")
        if not key or len(key.encode()) > 128:
            raise ValueError(f"click button '{name}' needs a key of 1 to 128 bytes")
        if not button.get("payload"):
            raise ValueError(f"click button '{name}' needs a payload: what Linli hears when it is pressed")
    elif kind == "view":
        if not str(button.get("url") or "").startswith(("http://", "https://")):
            raise ValueError(f"view button '{name}' needs a url")
    else:
        raise ValueError(f"button '{name}' has unsupported type {kind!r} (use click or view)")


def menu_payloads(menu: Dict[str, Any]) -> Dict[str, str]:
    """Click key → what the dialogue hears."""
    payloads = {}
    for button in menu.get("button", []):
        for item in button.get("sub_button") or [button]:
            if item.get("type") == "click":
                payloads[item["key"]] = item["payload"]
    return payloads


def api_menu(menu: Dict[str, Any]) -> Dict[str, Any]:
    """The menu as the platform's ``menu/create`` expects it (without Linli's payloads)."""
    def strip(button: Dict[str, Any]) -> Dict[str, Any]:
        clean = {k: v for k, v in button.items() if k != "payload" and k != "sub_button"}
        if button.get("sub_button") is not None:
            clean["sub_button"] = [strip(sub) for sub in button["sub_button"]]
        return clean

    return {"button": [strip(button) for button in menu["button"]]}


# ------------------------------------------------------------------------------------- channel
class WeChatInput(CallbackInput):
    """Official Account callback; replies passively or through the customer-service API."""

    links = True

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        return cls(WeChatSettings.from_credentials(credentials))

    def __init__(self, settings: WeChatSettings, store: Optional[ShortTermStore] = None) -> None:
        self.settings = settings
        self.store = store or ShortTermStore.from_settings(settings.redis_url)
        self.app_key = settings.appid
        self.menu_payloads = menu_payloads(load_menu(settings.menu))
        self.client = OfficialAccountClient(settings)
        self.crypto = (WeChatCrypto(settings.token, settings.encoding_aes_key, settings.appid)
                       if settings.encoding_aes_key else None)
        self.timezone = get_settings().timezone
        self._init_callback()

    def get_output_channel(self) -> OutputChannel:
        return ApiOutput(self)

    # callback hooks ---------------------------------------------------------------------------
    def _check(self, request: Request) -> None:
        args = request.args
        try:
            check_signature(self.settings.token, args.get("signature", ""), args.get("timestamp", ""),
                            args.get("nonce", ""))
        except Exception as error:
            raise SignatureError() from error

    def verify(self, request: Request) -> HTTPResponse:
        self._check(request)
        return response.text(request.args.get("echostr", ""))

    def _encrypted(self, request: Request) -> bool:
        return request.args.get("encrypt_type", "raw") == "aes"

    def open(self, request: Request, body: bytes) -> str:
        """Plain mode (no ``encoding_aes_key``): the signature covers token, timestamp and nonce only.
        Safe and compatible mode: only encrypted bodies, whose ``msg_signature`` covers the body."""
        self._check(request)
        if not self._encrypted(request):
            if self.crypto is not None:
                raise SignatureError("safe mode: a plain body is not signed")
            return body.decode("utf-8")
        if self.crypto is None:
            raise ValueError("encrypted message but no encoding_aes_key configured")
        args = request.args
        return self.crypto.decrypt_message(body, args.get("msg_signature", ""), args.get("timestamp", ""),
                                           args.get("nonce", ""))

    def parse(self, xml: str):
        return parse_message(xml)

    def seal(self, request: Request, reply_xml: str) -> HTTPResponse:
        if self._encrypted(request) and self.crypto is not None:
            reply_xml = self.crypto.encrypt_message(reply_xml, request.args.get("nonce", ""),
                                                    request.args.get("timestamp"))
        return response.text(reply_xml, content_type="application/xml")

    def reply_xml(self, message, text: str) -> str:
        return TextReply(message=message, content=text).render()

    def base_metadata(self, message) -> Dict[str, Any]:
        return {"platform": "wechat", "chat_type": "private", "message_id": str(message.id or "")}

    # sending ----------------------------------------------------------------------------------
    async def deliver(self, user: str, text: str) -> None:
        """Customer-service messages; once the user's window is closed, one template message."""
        for part in split_utf8(text):
            try:
                await call_api(self.client, self.client.message.send_text, user, part)
            except WeChatAPIError as error:
                template = self.settings.fallback_template
                if error.errcode not in OUT_OF_WINDOW or template is None:
                    raise
                logger.info("Customer-service window closed for %s (%s); sending the template message",
                            user, error.errcode)
                await call_api(self.client, self.client.message.send_template, user, template.template_id,
                               template.render(text, self.timezone), url=template.url)
                return

    async def create_menu(self, menu: Dict[str, Any]) -> Dict[str, Any]:
        return await call_api(self.client, self.client.menu.create, api_menu(menu))
