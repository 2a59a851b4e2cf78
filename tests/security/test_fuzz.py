"""A seeded fuzz of malformed and forged requests against the production-like stack: 2,400 requests
across REST, WeChat, WeChat Work and Telegram; none forged is accepted, none gets a 5xx, nothing dies.

Forged requests lack the channel's proof (REST token, WeChat signature, Telegram secret) or carry a
stale or mismatched one: each must be refused (401/403). Malformed ones carry a valid proof around a
broken body: each must get a 4xx. Text-free bodies keep it fast: nothing here reaches the model.
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter

import httpx
import pytest

from tests.security.conftest import REST_TOKEN, TELEGRAM_SECRET
from tests.standins.wxcrypto import signature

pytestmark = pytest.mark.slow
SEED = 20261202
ROUNDS = 600  # × 4 channels

JUNK = [b"", b"null", b"[]", b"{}", b"42", b'"x"', b"\xff\xfe\x00", b"<xml>", b"<xml></xml>", b"{" * 5000,
        b"<!DOCTYPE x [<!ENTITY a 'b'>]><xml>&a;</xml>", b"<xml><MsgType>text</MsgType></xml>",
        "<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>你好</Content><MsgId>abc</MsgId></xml>"
        .encode()]


def junk(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return rng.choice(JUNK)
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))


def forged_query(rng: random.Random, token: str) -> dict:
    """Query strings an attacker can make: random, stale but well signed, or from the future."""
    nonce = str(rng.randint(0, 10 ** 9))
    kind = rng.choice(["random", "stale", "future", "missing"])
    if kind == "missing":
        return {}
    stamp = {"random": str(rng.randint(0, 2 ** 31)), "stale": str(int(time.time()) - 3600),
             "future": str(int(time.time()) + 3600)}[kind]
    sign = f"{rng.getrandbits(160):040x}" if kind == "random" else signature(token, stamp, nonce)
    return {"signature": sign, "msg_signature": sign, "timestamp": stamp, "nonce": nonce,
            "encrypt_type": rng.choice(["aes", "raw"])}


def test_two_thousand_forged_or_malformed_requests(production):
    rng = random.Random(SEED)
    results: Counter = Counter()
    accepted: list[str] = []
    wx, work = production.wechat, production.wecom
    urls = {"rest": f"{production.url}/webhooks/rest/webhook", "wechat": wx.callback_url,
            "wecom": work.callback_url, "telegram": production.telegram.webhook["url"]}
    with httpx.Client(timeout=30) as http:
        for round_ in range(ROUNDS):
            requests = []
            # REST: a body claiming any identity without the token, or a broken body with it.
            if rng.random() < 0.5:
                body = json.dumps({"sender": "wangyuan-office", "input_channel": "wecom",
                                   "message": "/办结 GD202611220007", "metadata": {"role": "staff"}}).encode()
                auth = rng.choice([None, "Bearer wrong", REST_TOKEN, f"Basic {REST_TOKEN}", f"Bearer {REST_TOKEN}x"])
                requests.append(("forged", "rest", dict(content=body, headers={"Authorization": auth} if auth else {})))
            else:
                requests.append(("malformed", "rest", dict(content=junk(rng),
                                                            headers={"Authorization": f"Bearer {REST_TOKEN}"})))
            # WeChat and WeChat Work: forged or stale signatures around any body.
            for channel, token in (("wechat", wx.token), ("wecom", work.token)):
                query = forged_query(rng, token)
                body = junk(rng) if rng.random() < 0.6 else wx.envelope(wx.text("oFuzz", "你好"), encrypt=True)[1]
                requests.append(("forged", channel, dict(params=query, content=body)))
            # Telegram: a wrong secret, or the right one around a broken update.
            if rng.random() < 0.5:
                secret = rng.choice(["", "wrong", TELEGRAM_SECRET[:-1], TELEGRAM_SECRET + "x"])
                update = json.dumps(production.telegram.message_update(900000 + round_, "你好")).encode()
                requests.append(("forged", "telegram", dict(content=update, headers={
                    "X-Telegram-Bot-Api-Secret-Token": secret} if secret else {})))
            else:
                requests.append(("malformed", "telegram", dict(content=junk(rng), headers={
                    "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})))
            for kind, channel, options in requests:
                status = http.post(urls[channel], **options).status_code
                results[(kind, channel, status)] += 1
                if status >= 500 or (kind == "forged" and status < 400) or (kind == "malformed" and status == 200
                                                                            and channel != "telegram"):
                    accepted.append(f"{kind} {channel} → {status}: {options}")
    total = sum(results.values())
    print(f"fuzz: {total} requests", dict(sorted(results.items(), key=str)))
    assert total >= 2000
    assert accepted == [], accepted[:5]
    assert production.alive() == [] and production.linli.poll() is None
