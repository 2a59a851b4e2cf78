"""WeChat Official Account stand-in: the API at ``/cgi-bin/...`` and the servers that push users'
messages to a callback URL.

API side (answers ``{"errcode": ..., "errmsg": ...}`` as WeChat does):
``GET token`` (client_credential; a new token leaves the previous ones valid for ``overlap``
seconds, as WeChat does for five minutes), ``POST message/custom/send`` (customer-service
messages: 45015 when the user gave no window, 45047 when the window's quota is used up —
5 messages within 48 h of a user message, 3 within a minute of a menu click or subscription),
``POST message/template/send``, ``POST menu/create`` (the documented size rules, errcodes
40016–40026), ``GET menu/get``. Every call needs a valid ``access_token`` (41001 / 40001 / 42001).

Platform side: ``push`` builds the XML a user's action produces, signs it (and encrypts it in safe
mode, with ``tests.standins.wxcrypto``: the documented scheme, not the product's wechatpy), posts
it to the callback with WeChat's 5-second timeout, retries up to three times when the answer does
not come, and checks and decrypts the passive reply.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import aiohttp
import xmltodict
from aiohttp import web

from tests.standins import wxcrypto
from tests.standins.server import Running, serve_aiohttp
from tests.standins.wxcrypto import signature

USER_MESSAGE_QUOTA = (5, 48 * 3600.0)  # customer-service messages allowed after a user message
EVENT_QUOTA = (3, 60.0)                  # ... after a menu click, subscription or scan


class WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class Call:
    path: str
    params: dict
    body: Any
    errcode: int
    at: float


@dataclass
class PushResult:
    attempts: int
    status: Optional[int]
    body: str
    reply: Optional[dict]  # the decrypted passive reply's fields; None for "success" / ""


@dataclass
class Grant:
    remaining: int
    expires: float


class TokenIssuer:
    """Access tokens as WeChat issues them: a new one leaves older ones valid for ``overlap`` s."""

    def __init__(self, expires_in: int = 7200, overlap: float = 300.0) -> None:
        self.expires_in = expires_in
        self.overlap = overlap
        self.issued: dict[str, float] = {}  # token → valid until
        self.latest: Optional[str] = None
        self.fetches = 0

    def issue(self) -> dict:
        now = time.monotonic()
        for token, until in self.issued.items():
            self.issued[token] = min(until, now + self.overlap)
        self.latest = secrets.token_urlsafe(48)
        self.issued[self.latest] = now + self.expires_in
        self.fetches += 1
        return {"access_token": self.latest, "expires_in": self.expires_in}

    def check(self, token: Optional[str]) -> None:
        if not token:
            raise WeChatError(41001, "access_token missing")
        until = self.issued.get(token)
        if until is None or until <= time.monotonic() and token != self.latest:
            raise WeChatError(40001, "invalid credential, access_token is invalid or not latest")
        if until <= time.monotonic():
            raise WeChatError(42001, "access_token expired")

    def invalidate_all(self) -> None:
        """As if another party fetched a token and the overlap ran out: 40001 "not latest"."""
        self.issued = {token: 0.0 for token in self.issued}
        self.latest = None


async def _json_body(request: web.Request) -> dict:
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8")) if raw else {}
    except ValueError:
        raise WeChatError(47001, "data format error") from None
    if not isinstance(body, dict):
        raise WeChatError(47001, "data format error")
    return body


def ok(**extra: Any) -> dict:
    return {"errcode": 0, "errmsg": "ok", **extra}


@dataclass
class WeChatStandIn:
    """Defaults are the account of WeChat's official encryption sample (token ``spamtest``)."""

    appid: str = "wx2c2769f8efd9abc2"
    secret: str = "stand-in-app-secret"
    token: str = "spamtest"
    encoding_aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    original_id: str = "gh_10f6c3c3ac5a"
    templates: set = field(default_factory=lambda: {"TPL_FOLLOW_UP"})
    daily_quota: int = 100_000
    push_timeout: float = 5.0

    def __post_init__(self) -> None:
        self.tokens = TokenIssuer()
        self.calls: list[Call] = []
        self.grants: dict[str, list[Grant]] = {}
        self.subscribed: set[str] = set()
        self.menu: Optional[dict] = None
        self.callback_url: Optional[str] = None
        self._msg_ids = itertools.count(6054768590064713728)
        self._running: Optional[Running] = None

    # ---------------------------------------------------------------------------------- lifecycle
    async def start(self) -> "WeChatStandIn":
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        routes = {"message/custom/send": self._custom_send, "message/template/send": self._template_send,
                  "menu/create": self._menu_create, "menu/get": self._menu_get}
        for path, handler in routes.items():
            app.router.add_route("*", f"/cgi-bin/{path}", self._api(path, handler))
        self._running = await serve_aiohttp(app)
        return self

    async def stop(self) -> None:
        if self._running:
            await self._running.stop()

    @property
    def api_base_url(self) -> str:
        return self._running.url

    def credentials(self, **extra: Any) -> dict:
        return {"appid": self.appid, "secret": self.secret, "token": self.token,
                "api_base_url": self.api_base_url, **extra}

    # ---------------------------------------------------------------------------------- records
    def sent(self, path: str = "message/custom/send", touser: Optional[str] = None) -> list[dict]:
        return [c.body for c in self.calls if c.path == path and c.errcode == 0
                and (touser is None or c.body.get("touser") == touser)]

    def texts(self, touser: Optional[str] = None) -> list[str]:
        return [b["text"]["content"] for b in self.sent("message/custom/send", touser)]

    def errors(self) -> list[int]:
        return [c.errcode for c in self.calls if c.errcode]

    # ------------------------------------------------------------------------------- API server
    async def _token(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("grant_type") != "client_credential":
            result = {"errcode": 40002, "errmsg": "invalid grant_type"}
        elif query.get("appid") != self.appid:
            result = {"errcode": 40013, "errmsg": "invalid appid"}
        elif query.get("secret") != self.secret:
            result = {"errcode": 40125, "errmsg": "invalid appsecret"}
        else:
            result = self.tokens.issue()
        self.calls.append(Call("token", dict(query), None, result.get("errcode", 0), time.monotonic()))
        return web.json_response(result)

    def _api(self, path: str, handler):
        async def serve(request: web.Request) -> web.Response:
            body: Any = None
            try:
                self.tokens.check(request.query.get("access_token"))
                if len([c for c in self.calls if c.path == path and c.errcode == 0]) >= self.daily_quota:
                    raise WeChatError(45009, "reach max api daily quota limit")
                body = await _json_body(request) if request.method == "POST" else None
                result = await handler(body)
            except WeChatError as error:
                self.calls.append(Call(path, dict(request.query), body, error.errcode, time.monotonic()))
                return web.json_response({"errcode": error.errcode, "errmsg": error.errmsg})
            self.calls.append(Call(path, dict(request.query), body, 0, time.monotonic()))
            return web.json_response(result)

        return serve

    async def _custom_send(self, body: dict) -> dict:
        user = body.get("touser")
        if not user or user not in self.grants and user not in self.subscribed:
            raise WeChatError(40003, "invalid openid")
        kind = body.get("msgtype")
        if kind not in {"text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu", "wxcard",
                        "miniprogrampage"}:
            raise WeChatError(40008, "invalid message type")
        if kind == "text":
            content = (body.get("text") or {}).get("content")
            if not content:
                raise WeChatError(44003, "empty news data")
            if len(content.encode()) > 2048:
                raise WeChatError(45002, "content size out of limit")
        self._use_window(user)
        return ok()

    def _use_window(self, user: str) -> None:
        now = time.monotonic()
        live = [g for g in self.grants.get(user, []) if g.expires > now] if user in self.subscribed else []
        if not live:
            raise WeChatError(45015, "response out of time limit or subscription is canceled")
        usable = [g for g in live if g.remaining > 0]
        if not usable:
            raise WeChatError(45047, "out of response count limit")
        min(usable, key=lambda g: g.expires).remaining -= 1

    async def _template_send(self, body: dict) -> dict:
        user = body.get("touser")
        if not user:
            raise WeChatError(40003, "invalid openid")
        if body.get("template_id") not in self.templates:
            raise WeChatError(40037, "invalid template_id")
        if user not in self.subscribed:
            raise WeChatError(43004, "require subscribe")
        if not isinstance(body.get("data"), dict):
            raise WeChatError(47001, "data format error")
        return ok(msgid=next(self._msg_ids))

    async def _menu_create(self, body: dict) -> dict:
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise WeChatError(40016, "invalid button size")
        for button in buttons:
            subs = button.get("sub_button")
            if subs is None:
                _check_menu_button(button, 16, (40017, 40018, 40019))
                continue
            if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
                raise WeChatError(40023, "invalid sub button size")
            if not button.get("name") or len(button["name"].encode()) > 16:
                raise WeChatError(40018, "invalid button name size")
            for sub in subs:
                _check_menu_button(sub, 60, (40024, 40025, 40026))
        self.menu = body
        return ok()

    async def _menu_get(self, body: Any) -> dict:
        if self.menu is None:
            raise WeChatError(46003, "menu no exist")
        return {"menu": self.menu}

    # ---------------------------------------------------------------------------- platform side
    def _grant(self, user: str, quota: tuple[int, float]) -> None:
        self.subscribed.add(user)
        self.grants.setdefault(user, []).append(Grant(quota[0], time.monotonic() + quota[1]))

    def text(self, user: str, content: str, **extra: Any) -> dict:
        return {"FromUserName": user, "MsgType": "text", "Content": content, "MsgId": next(self._msg_ids), **extra}

    def image(self, user: str) -> dict:
        msg_id = next(self._msg_ids)
        return {"FromUserName": user, "MsgType": "image", "PicUrl": f"http://mmbiz.example/{msg_id}.jpg",
                "MediaId": f"media-{msg_id}", "MsgId": msg_id}

    def voice(self, user: str, recognition: str = "") -> dict:
        return {"FromUserName": user, "MsgType": "voice", "MediaId": "voice-1", "Format": "amr",
                "Recognition": recognition, "MsgId": next(self._msg_ids)}

    def location(self, user: str, latitude: float, longitude: float, label: str) -> dict:
        return {"FromUserName": user, "MsgType": "location", "Location_X": latitude, "Location_Y": longitude,
                "Scale": 16, "Label": label, "MsgId": next(self._msg_ids)}

    def event(self, user: str, event: str, key: Optional[str] = None) -> dict:
        fields = {"FromUserName": user, "MsgType": "event", "Event": event}
        return {**fields, "EventKey": key} if key is not None else fields

    def _account_for(self, fields: dict) -> None:
        user = fields["FromUserName"]
        if fields["MsgType"] != "event":
            self._grant(user, USER_MESSAGE_QUOTA)
        elif fields["Event"] in ("subscribe", "CLICK", "SCAN"):
            self._grant(user, EVENT_QUOTA)
        elif fields["Event"] == "unsubscribe":
            self.subscribed.discard(user)

    def envelope(self, fields: dict, encrypt: bool, create_time: Optional[int] = None) -> tuple[dict, bytes]:
        """Query parameters and body of the callback request for ``fields``, signed as WeChat signs."""
        fields = {"ToUserName": self.original_id, "CreateTime": create_time or int(time.time()), **fields}
        xml = "<xml>" + "".join(_node(k, v) for k, v in fields.items()) + "</xml>"
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10 ** 9))
        query = {"signature": signature(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                 "openid": fields["FromUserName"]}
        if not encrypt:
            return query, xml.encode()
        cipher = wxcrypto.encrypt(wxcrypto.aes_key(self.encoding_aes_key), xml, self.appid)
        query.update(encrypt_type="aes", msg_signature=signature(self.token, timestamp, nonce, cipher))
        body = f"<xml><ToUserName><![CDATA[{self.original_id}]]></ToUserName><Encrypt><![CDATA[{cipher}]]></Encrypt></xml>"
        return query, body.encode()

    async def push(self, fields: dict, *, encrypt: bool = False, retries: int = 3,
                   lose_first_response: bool = False, url: Optional[str] = None) -> PushResult:
        """A user's action reaching the callback the way WeChat delivers it: up to 1 + ``retries``
        attempts, each given ``push_timeout`` seconds."""
        self._account_for(fields)
        query, body = self.envelope(fields, encrypt)
        attempts, status, text = 0, None, ""
        timeout = aiohttp.ClientTimeout(total=self.push_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(1 + retries):
                attempts += 1
                try:
                    async with session.post(url or self.callback_url, params=query, data=body) as answer:
                        status, text = answer.status, await answer.text()
                except (asyncio.TimeoutError, aiohttp.ClientError):
                    status, text = None, ""
                    continue
                if status == 200 and not (lose_first_response and attempt == 0):
                    break
        reply = self.open_reply(text, fields["FromUserName"], encrypt) if status == 200 else None
        return PushResult(attempts, status, text, reply)

    def open_reply(self, text: str, user: str, encrypted: bool) -> Optional[dict]:
        """Check a passive reply as WeChat does: signature, decryption, addressing."""
        if text in ("", "success"):
            return None
        fields = xmltodict.parse(text)["xml"]
        if encrypted:
            expected = signature(self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
            assert fields["MsgSignature"] == expected, "reply signature does not verify"
            plain = wxcrypto.decrypt(wxcrypto.aes_key(self.encoding_aes_key), fields["Encrypt"], self.appid)
            fields = xmltodict.parse(plain)["xml"]
        assert fields["ToUserName"] == user and fields["FromUserName"] == self.original_id, fields
        return fields

    async def verify_url(self, url: Optional[str] = None, forged: bool = False) -> tuple[int, str]:
        timestamp, nonce, echo = str(int(time.time())), "263014780", "1616140317555161061"
        sign = "0" * 40 if forged else signature(self.token, timestamp, nonce)
        async with aiohttp.ClientSession() as session:
            async with session.get(url or self.callback_url, params={
                    "signature": sign, "timestamp": timestamp, "nonce": nonce, "echostr": echo}) as answer:
                return answer.status, await answer.text()


def _node(name: str, value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"<{name}>{value}</{name}>"
    text = str(value).replace("]]>", "]]]]><![CDATA[>")
    return f"<{name}><![CDATA[{text}]]></{name}>"


def _check_menu_button(button: dict, name_bytes: int, codes: tuple[int, int, int]) -> None:
    type_code, name_code, key_code = codes
    if button.get("type") not in {"click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                                  "pic_photo_or_album", "pic_weixin", "location_select", "media_id",
                                  "view_limited", "miniprogram", "article_id", "article_view_limited"}:
        raise WeChatError(type_code, "invalid button type")
    if not button.get("name") or len(button["name"].encode()) > name_bytes:
        raise WeChatError(name_code, "invalid button name size")
    if button["type"] == "click" and (not button.get("key") or len(button["key"].encode()) > 128):
        raise WeChatError(key_code, "invalid button key size")
    if button["type"] == "view" and not button.get("url"):
        raise WeChatError(40055, "invalid button url domain")
