"""WeChat Work stand-in: the app API, group robot webhooks, and the servers pushing staff messages.

API side: ``GET gettoken`` (corpid + corpsecret), ``POST message/send`` (the app's messages to its
members; 81013 when no recipient is valid, 40056 for another agent id, text up to 2048 bytes),
``POST webhook/send?key=`` (group robots: 93000 for an unknown key, text up to 2048 bytes and
markdown up to 4096 bytes, and 45009 beyond 20 messages per robot in any ``robot_period``
seconds — 60 on the real platform).

Platform side: ``push`` sends a member's message to the app callback, always encrypted and
signed with ``msg_signature`` as WeChat Work does (``tests.standins.wxcrypto``: the documented
scheme, not the product's wechatpy), with its 5-second timeout and retries.
"""
from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Optional

import aiohttp
import xmltodict
from aiohttp import web

from tests.standins import wxcrypto
from tests.standins.server import Running, serve_aiohttp
from tests.standins.wechat import Call, PushResult, TokenIssuer, WeChatError, _json_body, _node, ok
from tests.standins.wxcrypto import signature


@dataclass
class WeComStandIn:
    corp_id: str = "wx5823bf96d3bd56c7"
    agent_id: int = 1000002
    secret: str = "stand-in-corp-secret"
    token: str = "QDG6eK"
    encoding_aes_key: str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
    members: set = field(default_factory=lambda: {"zhangsan", "lisi"})
    robots: set = field(default_factory=lambda: {"robot-key-xiyuan"})
    robot_limit: int = 20
    robot_period: float = 60.0
    push_timeout: float = 5.0

    def __post_init__(self) -> None:
        self.tokens = TokenIssuer()
        self.calls: list[Call] = []
        self.callback_url: Optional[str] = None
        self._robot_sends: dict[str, deque[float]] = defaultdict(deque)
        self._msg_ids = itertools.count(4561255354251345929)
        self._running: Optional[Running] = None

    async def start(self) -> "WeComStandIn":
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._message_send)
        app.router.add_post("/cgi-bin/webhook/send", self._webhook_send)
        self._running = await serve_aiohttp(app)
        return self

    async def stop(self) -> None:
        if self._running:
            await self._running.stop()

    @property
    def api_base_url(self) -> str:
        return self._running.url

    def credentials(self, **extra: Any) -> dict:
        return {"corp_id": self.corp_id, "agent_id": self.agent_id, "secret": self.secret, "token": self.token,
                "encoding_aes_key": self.encoding_aes_key, "api_base_url": self.api_base_url, **extra}

    # ---------------------------------------------------------------------------------- records
    def app_texts(self, user: Optional[str] = None) -> list[str]:
        return [c.body["text"]["content"] for c in self.calls if c.path == "message/send" and c.errcode == 0
                and (user is None or c.body["touser"] == user)]

    def robot_posts(self, key: str = "robot-key-xiyuan") -> list[Call]:
        return [c for c in self.calls if c.path == "webhook/send" and c.errcode == 0 and c.params.get("key") == key]

    def errors(self) -> list[int]:
        return [c.errcode for c in self.calls if c.errcode]

    # ------------------------------------------------------------------------------- API server
    async def _record(self, request: web.Request, path: str, handler) -> web.Response:
        body: Any = None
        try:
            body = await _json_body(request) if request.method == "POST" else None
            result = await handler(request, body)
        except WeChatError as error:
            self.calls.append(Call(path, dict(request.query), body, error.errcode, time.monotonic()))
            return web.json_response({"errcode": error.errcode, "errmsg": error.errmsg})
        self.calls.append(Call(path, dict(request.query), body, 0, time.monotonic()))
        return web.json_response(result)

    async def _gettoken(self, request: web.Request) -> web.Response:
        async def issue(request: web.Request, _: Any) -> dict:
            if request.query.get("corpid") != self.corp_id:
                raise WeChatError(40013, "invalid corpid")
            if request.query.get("corpsecret") != self.secret:
                raise WeChatError(40001, "invalid credential")
            return ok(**self.tokens.issue())
        return await self._record(request, "gettoken", issue)

    async def _message_send(self, request: web.Request) -> web.Response:
        async def send(request: web.Request, body: dict) -> dict:
            self.tokens.check(request.query.get("access_token"))
            if int(body.get("agentid") or 0) != self.agent_id:
                raise WeChatError(40056, "invalid agentid")
            if body.get("msgtype") != "text":
                raise WeChatError(40008, "invalid message type")
            content = (body.get("text") or {}).get("content") or ""
            if not content:
                raise WeChatError(44004, "empty content")
            if len(content.encode()) > 2048:
                raise WeChatError(45002, "content size out of limit")
            users = [u for u in str(body.get("touser") or "").split("|") if u]
            invalid = [u for u in users if u not in self.members]
            if not users or len(invalid) == len(users):
                raise WeChatError(81013, "user & party & tag all invalid")
            return ok(invaliduser="|".join(invalid)) if invalid else ok()
        return await self._record(request, "message/send", send)

    async def _webhook_send(self, request: web.Request) -> web.Response:
        async def post(request: web.Request, body: dict) -> dict:
            key = request.query.get("key")
            if key not in self.robots:
                raise WeChatError(93000, "invalid webhook url")
            kind = body.get("msgtype")
            limits = {"text": 2048, "markdown": 4096}
            if kind not in limits:
                raise WeChatError(40008, "invalid message type")
            content = (body.get(kind) or {}).get("content") or ""
            if not content:
                raise WeChatError(44004, "empty content")
            if len(content.encode()) > limits[kind]:
                raise WeChatError(40058, f"content exceed max length {limits[kind]}")
            times, now = self._robot_sends[key], time.monotonic()
            while times and times[0] + self.robot_period <= now:
                times.popleft()
            if len(times) >= self.robot_limit:
                raise WeChatError(45009, "api freq out of limit")
            times.append(now)
            return ok()
        return await self._record(request, "webhook/send", post)

    # ---------------------------------------------------------------------------- platform side
    def _key(self) -> bytes:
        return wxcrypto.aes_key(self.encoding_aes_key)

    def text(self, user: str, content: str) -> dict:
        return {"FromUserName": user, "MsgType": "text", "Content": content, "MsgId": next(self._msg_ids),
                "AgentID": self.agent_id}

    async def push(self, fields: dict, *, retries: int = 3, forge: bool = False) -> PushResult:
        fields = {"ToUserName": self.corp_id, "CreateTime": int(time.time()), **fields}
        xml = "<xml>" + "".join(_node(k, v) for k, v in fields.items()) + "</xml>"
        cipher = wxcrypto.encrypt(self._key(), xml, self.corp_id)
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10 ** 9))
        query = {"msg_signature": "0" * 40 if forge else signature(self.token, timestamp, nonce, cipher),
                 "timestamp": timestamp, "nonce": nonce}
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><AgentID><![CDATA[{self.agent_id}]]>"
                f"</AgentID><Encrypt><![CDATA[{cipher}]]></Encrypt></xml>")
        attempts, status, text = 0, None, ""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.push_timeout)) as session:
            for _ in range(1 + retries):
                attempts += 1
                try:
                    async with session.post(self.callback_url, params=query, data=body.encode()) as answer:
                        status, text = answer.status, await answer.text()
                        break
                except (asyncio.TimeoutError, aiohttp.ClientError):
                    continue
        reply = self.open_reply(text, fields["FromUserName"]) if status == 200 else None
        return PushResult(attempts, status, text, reply)

    def open_reply(self, text: str, user: str) -> Optional[dict]:
        if text in ("", "success"):
            return None
        envelope = xmltodict.parse(text)["xml"]
        expected = signature(self.token, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
        assert envelope["MsgSignature"] == expected, "reply signature does not verify"
        fields = xmltodict.parse(wxcrypto.decrypt(self._key(), envelope["Encrypt"], self.corp_id))["xml"]
        assert fields["ToUserName"] == user and fields["FromUserName"] == self.corp_id, fields
        return fields

    async def verify_url(self, forged: bool = False) -> tuple[int, str]:
        echo = str(secrets.randbelow(10 ** 19))
        cipher = wxcrypto.encrypt(self._key(), echo, self.corp_id)
        timestamp, nonce = str(int(time.time())), "263014780"
        sign = "0" * 40 if forged else signature(self.token, timestamp, nonce, cipher)
        async with aiohttp.ClientSession() as session:
            async with session.get(self.callback_url, params={"msg_signature": sign, "timestamp": timestamp,
                                                              "nonce": nonce, "echostr": cipher}) as answer:
                body = await answer.text()
                assert answer.status != 200 or body == echo, (body, echo)
                return answer.status, body
