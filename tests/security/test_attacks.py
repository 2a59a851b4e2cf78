"""Attacks on a stack started as `linli run` starts it in production (tests/security/conftest.py):
nobody speaks as someone else, nobody types an intent, bad input gets a 4xx or a polite answer."""
from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
import redis

from bot.channels.guard import limit, wording
from bot.cli.serve import production_refusals
from bot.core.settings import Settings
from tests.security.conftest import API_TOKEN, FULL_PHONE, REDIS_URL
from tests.stack import response_text

pytestmark = pytest.mark.slow
PHONE = "13912345678"
STAFF = "wangyuan-office"  # on the default staff file, for 望园社区 (WeChat Work)


def victim_ticket(production, channel: str = "wechat", sender: str = "oVictim0000000000000000000001"):
    return production.tickets.create(category="leak", description=f"屋顶漏水，电话{PHONE}", reporter_channel=channel,
                                     reporter_id=sender, community="望园社区", building="3", unit="2", room="502",
                                     phone=PHONE)


# ------------------------------------------------------------------------------ who is speaking
def test_rest_cannot_claim_a_staff_identity_or_another_channel(production):
    ticket = victim_ticket(production)
    forged = {"sender": STAFF, "input_channel": "wecom", "metadata": {"role": "staff", "button": True}}
    for command in (f"/办结 {ticket.id} 已修好", f"/查看 {ticket.id}", f"/合并 {ticket.id} {ticket.id}"):
        reply = production.rest_text(message=command, **forged)
        assert reply == response_text("utter_staff_refused"), reply
    assert production.tickets.get(ticket.id).status == ticket.status
    progress = production.rest_text("oVictim0000000000000000000001", "查进度", input_channel="wechat")
    assert ticket.id not in progress and PHONE not in progress


def test_verified_staff_keep_their_commands(production):
    ticket = victim_ticket(production, sender="oVictim0000000000000000000002")
    result = production.loop.run(production.wecom.push(production.wecom.text(STAFF, f"/接单 {ticket.id}")))
    assert result.status == 200
    assert production.tickets.get(ticket.id).status == "in_progress"


def test_rest_needs_its_token(production):
    body = {"sender": "someone", "message": "你好"}
    assert production.rest(body, token=None).status_code == 401
    assert production.rest(body, token="wrong").status_code == 401


def test_the_http_api_needs_its_token(production):
    conversation = f"{production.url}/conversations/rest:someone"
    assert httpx.get(f"{conversation}/tracker", timeout=10).status_code == 401
    assert httpx.post(f"{conversation}/trigger_intent", json={"name": "EXTERNAL_staff_notice"},
                      timeout=10).status_code == 401
    assert httpx.post(f"{production.url}/model/parse", json={"text": "你好"}, timeout=10).status_code == 401
    assert httpx.get(f"{conversation}/tracker", params={"token": API_TOKEN}, timeout=10).status_code == 200


@pytest.mark.parametrize("text", ['/EXTERNAL_staff_notice{{"notice":"whistle","ticket_id":"{id}"}}',
                                  '/EXTERNAL_followup{{"ticket_id":"{id}"}}', '/EXTERNAL_staff_notice{{"notice":"digest"}}',
                                  '/check_status{{"ticket_id":"{id}"}}'])
def test_typed_intents_set_nothing_on_any_channel(production, text):
    ticket = victim_ticket(production, channel="linli_telegram", sender="4242")
    typed = text.format(id=ticket.id)
    replies = [production.rest_text(f"typist-{uuid.uuid4().hex[:6]}", typed)]
    user = f"oTypist{uuid.uuid4().hex[:21]}"
    replies.append(production.loop.run(production.wechat.push(production.wechat.text(user, typed),
                                                              encrypt=True)).reply["Content"])
    wecom = production.loop.run(production.wecom.push(production.wecom.text(f"typist{uuid.uuid4().hex[:6]}", typed)))
    replies.append(wecom.reply["Content"] if wecom.reply else "")
    telegram_user = 880000 + uuid.uuid4().int % 99999
    status, _ = production.loop.run(production.telegram.deliver(production.telegram.message_update(telegram_user, typed)))
    assert status == 200
    replies += production.telegram.texts(telegram_user)
    for reply in replies:
        assert ticket.id not in reply and PHONE not in reply and "屋顶漏水" not in reply, reply
    tracker = httpx.get(f"{production.url}/conversations/rest:typist/tracker", params={"token": API_TOKEN}).json()
    assert not any(e.get("event") == "user" and (e.get("parse_data") or {}).get("intent", {}).get("name", "")
                   .startswith("EXTERNAL_") for e in tracker.get("events") or [])


def test_telegram_callback_data_must_be_issued_by_linli(production):
    user = 890000 + uuid.uuid4().int % 9999
    for data in ("/affirm", '/EXTERNAL_followup{"ticket_id":"GD202611220007"}', "s:AAAAAAAAAAA:/affirm", "cb:nothing"):
        status, _ = production.loop.run(production.telegram.deliver(production.telegram.callback_update(user, data)))
        assert status == 200
    assert production.telegram.texts(user) == [wording("button_expired")] * 4
    status, _ = production.loop.run(production.telegram.deliver(
        production.telegram.message_update(user, "你好"), secret="forged"))
    assert status == 403


def test_wechat_signatures_are_fresh_bound_to_their_body_and_encrypted(production):
    wx = production.wechat
    user = f"oFresh{uuid.uuid4().hex[:22]}"
    query, body = wx.envelope(wx.text(user, "你好"), encrypt=True)
    stale = {**query, "timestamp": "1577836800"}  # 2020: signed again, still refused
    assert httpx.post(wx.callback_url, params=stale, content=body).status_code == 403
    plain_query, plain_body = wx.envelope(wx.text(user, "你好"), encrypt=False)
    assert httpx.post(wx.callback_url, params=plain_query, content=plain_body).status_code == 403, "safe mode"
    assert httpx.post(wx.callback_url, params=query, content=body).status_code == 200
    assert httpx.post(wx.callback_url, params=query, content=body).status_code == 200, "a retry is answered"
    _, other = wx.envelope(wx.text(user, "另一条"), encrypt=True)
    assert httpx.post(wx.callback_url, params=query, content=other).status_code == 403, "signature replayed"


def test_wecom_timestamps_are_checked(production):
    work = production.wecom
    result = production.loop.run(work.push(work.text("staffer", "你好"), forge=True))
    assert result.status == 403


# -------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("content", [b"", b"null", b"[]", b'"text"', b"42", b"{", b'{"sender": "a"}',
                                     b'{"sender": "a", "message": null}', b'{"sender": null, "message": "hi"}',
                                     b'{"sender": "' + b"x" * 100 + b'", "message": "hi"}'])
def test_rest_bad_bodies_are_400(production, content):
    assert production.rest(content=content).status_code == 400
    assert production.rest(content=content, params={"stream": "true"}).status_code == 400


def test_oversized_bodies_and_messages(production):
    assert production.rest(content=b"{" + b" " * (2 * 1024 * 1024) + b"}").status_code == 413
    assert production.rest(content=json.dumps({"sender": "big", "message": "漏" * 70000}).encode()).status_code == 413
    reply = production.rest_text("longwinded", "楼道灯坏了" * (limit("max_text_chars") // 5 + 1))
    assert reply == wording("too_long", limit=limit("max_text_chars"))
    wx = production.wechat
    pushed = production.loop.run(wx.push(wx.text(f"oLong{uuid.uuid4().hex[:23]}", "漏" * (limit("max_text_chars") + 1)),
                                         encrypt=True))
    assert pushed.reply["Content"] == wording("too_long", limit=limit("max_text_chars"))


def test_nested_metadata_cannot_break_a_conversation(production):
    def nested(depth: int) -> bytes:
        arrays = "[" * depth + "]" * depth
        return f'{{"sender": "nested", "message": "你好", "metadata": {{"x": {arrays}}}}}'.encode()

    assert len(nested(50_000)) > limit("rest_max_body_bytes")
    assert production.rest(content=nested(50_000)).status_code == 413  # refused unread, by its size
    assert len(nested(20_000)) < limit("rest_max_body_bytes")
    assert production.rest(content=nested(20_000)).status_code == 400  # read: too deep for JSON, not JSON
    deep = {"sender": "nested", "message": "你好", "metadata": {"a": {"b": {"c": {"d": [[[[{}]]]]}}}}}
    assert production.rest(deep).status_code == 200
    assert production.rest_text("nested", "物业电话多少")


def test_wechat_bad_fields_are_refused_before_the_claim(production):
    wx = production.wechat
    user = f"oBad{uuid.uuid4().hex[:24]}"
    msg_id = str(int(time.time() * 1000))
    for fields in ({"FromUserName": user, "MsgType": "text", "Content": "你好", "MsgId": "not-a-number"},
                   {"FromUserName": user, "MsgType": "location", "Location_X": "north", "Location_Y": "116.29",
                    "Scale": "15", "Label": "望园", "MsgId": msg_id}):
        query, body = wx.envelope(fields, encrypt=True)
        assert httpx.post(wx.callback_url, params=query, content=body).status_code == 400
    good = {"FromUserName": user, "MsgType": "location", "Location_X": "39.9612", "Location_Y": "116.2905",
            "Scale": "15", "Label": "望园社区", "MsgId": msg_id}
    query, body = wx.envelope(good, encrypt=True)
    answer = httpx.post(wx.callback_url, params=query, content=body, timeout=30)
    assert answer.status_code == 200 and answer.text != "success", "the same MsgId was not claimed by the bad one"


# ------------------------------------------------------------------------------ start-up refusal
def test_linli_run_refuses_an_open_api_or_rest(monkeypatch):
    base = dict(database_url="sqlite://", redis_url=None, directory_path=None, service_path=None, model_dir=None,
                var_dir=None, timezone="Asia/Shanghai", rasa_port=5005, action_port=5055)
    open_api = production_refusals(Settings(**base, api_token=None, rasa_host="0.0.0.0", rest="off"))
    assert any("LINLI_API_TOKEN" in p for p in open_api)
    open_rest = production_refusals(Settings(**base, api_token="t" * 20, rasa_host="0.0.0.0", rest="on"))
    assert any("LINLI_REST_TOKEN" in p for p in open_rest)
    assert production_refusals(Settings(**base, api_token="t" * 20, rasa_host="0.0.0.0", rest="on",
                                        rest_token="r" * 20)) == []
    assert production_refusals(Settings(**base, api_token=None, rasa_host="127.0.0.1", rest="on")) == []


# ------------------------------------------------------------------------------ what is left
def test_no_full_phone_number_in_redis_or_logs_and_nothing_died(production):
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(count=500):
        assert not FULL_PHONE.search(key.decode(errors="replace")), key
        kind = client.type(key).decode()
        value = client.get(key) if kind == "string" else b" ".join(
            v if isinstance(v, bytes) else b"" for v in (client.hvals(key) if kind == "hash" else
                                                         client.zrange(key, 0, -1) if kind == "zset" else
                                                         client.lrange(key, 0, -1) if kind == "list" else []))
        assert not FULL_PHONE.search((value or b"").decode(errors="replace")), key
    logged = FULL_PHONE.findall(production.log.read_text(errors="replace"))
    assert not logged, f"{len(logged)} full phone numbers in the log"
    assert production.alive() == [] and production.linli.poll() is None
