"""The wechat (Official Account) channel against the WeChat stand-in."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels import LOCATION_TEXT, PHOTO_TEXT
from bot.channels.wechat import WeChatInput, WeChatSettings
from bot.channels.wxcommon import UNSUPPORTED, VOICE_UNCLEAR, WeChatAPIError
from tests.channels.harness import FakeCore, eventually
from tests.standins.wechat import Grant, WeChatStandIn, signature

USER = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
TEMPLATE = {"template_id": "TPL_FOLLOW_UP", "data": {"thing1": "{text}", "time2": "{time}"}, "text_limit": 10}

# WeChat's official encryption sample (WXBizMsgCrypt, the Python and Java samples of the docs).
SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APPID, SAMPLE_TOKEN = "wx2c2769f8efd9abc2", "spamtest"
SAMPLE_TIMESTAMP, SAMPLE_NONCE = "1409735669", "1320562132"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
    "</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]>"
    "</Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655H"
    "uD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNl"
    "ZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3y"
    "ZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSg"
    "M9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>")
# The stand-in's cryptography is checked against the published vectors in test_wxcrypto.py.


@pytest.fixture
async def wx():
    standin = await WeChatStandIn(push_timeout=2.0).start()
    yield standin
    await standin.stop()


async def start(wx: WeChatStandIn, serve_channel, core=None, **credentials):
    channel = WeChatInput.from_credentials(wx.credentials(**credentials))
    server = await serve_channel(channel, core)
    wx.callback_url = server.url()
    return server


def slow(seconds: float):
    async def reply(message: UserMessage) -> None:
        await asyncio.sleep(seconds)
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")
    return reply


async def test_url_verification_echoes_only_for_a_valid_signature(wx, serve_channel):
    await start(wx, serve_channel)
    assert await wx.verify_url() == (200, "1616140317555161061")
    assert (await wx.verify_url(forged=True))[0] == 403


async def test_official_encryption_sample_is_decrypted_and_answered(wx, serve_channel):
    server = await start(wx, serve_channel, encoding_aes_key=SAMPLE_KEY)
    server.channel.clock = lambda: int(SAMPLE_TIMESTAMP) + 60  # the sample was signed in 2014
    query = {"signature": signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE), "timestamp": SAMPLE_TIMESTAMP,
             "nonce": SAMPLE_NONCE, "encrypt_type": "aes", "msg_signature": SAMPLE_MSG_SIGNATURE, "openid": USER}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url(), params=query, data=SAMPLE_BODY.encode()) as answer:
            assert answer.status == 200
            reply = wx.open_reply(await answer.text(), USER, encrypted=True)
    [message] = server.core.messages
    assert (message.text, message.sender_id, message.input_channel) == ("abcdteT", USER, "wechat")
    assert message.metadata["message_id"] == "6054768590064713728"
    assert reply["Content"] == "收到：abcdteT"


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "safe"])
async def test_text_round_trip_in_plain_and_safe_mode(wx, serve_channel, encrypt):
    server = await start(wx, serve_channel, **({"encoding_aes_key": SAMPLE_KEY} if encrypt else {}))
    result = await wx.push(wx.text(USER, "9号楼楼顶漏雨"), encrypt=encrypt)
    assert result.attempts == 1 and result.reply["Content"] == "收到：9号楼楼顶漏雨"
    [message] = server.core.messages
    assert message.metadata == {"platform": "wechat", "chat_type": "private",
                                "message_id": message.metadata["message_id"]}


async def test_forged_requests_are_refused(wx, serve_channel):
    server = await start(wx, serve_channel, encoding_aes_key=SAMPLE_KEY)
    async with aiohttp.ClientSession() as http:
        query, body = wx.envelope(wx.text(USER, "伪造"), encrypt=False)
        async with http.post(server.url(), params={**query, "signature": "0" * 40}, data=body) as answer:
            assert answer.status == 403
        query, body = wx.envelope(wx.text(USER, "伪造"), encrypt=True)
        async with http.post(server.url(), params={**query, "msg_signature": "0" * 40}, data=body) as answer:
            assert answer.status == 403
        async with http.post(server.url(), data=body) as answer:
            assert answer.status == 403
    assert server.core.messages == []


async def test_a_lost_answer_is_retried_and_answered_again_without_a_second_turn(wx, serve_channel):
    server = await start(wx, serve_channel)
    result = await wx.push(wx.text(USER, "5号楼电梯坏了"), lose_first_response=True)
    assert result.attempts == 2 and result.reply["Content"] == "收到：5号楼电梯坏了"
    assert server.core.texts == ["5号楼电梯坏了"]


async def test_when_wechat_gives_up_waiting_its_retries_reach_the_dialogue_once_and_the_reply_still_arrives(
        wx, serve_channel):
    """The platform's timeout (scaled to 0.3 s) runs out before the channel's budget (1 s)."""
    wx.push_timeout = 0.3
    server = await start(wx, serve_channel, FakeCore(slow(0.6)), reply_budget=1.0)
    result = await wx.push(wx.text(USER, "3号楼地下室进水了"))
    assert result.attempts >= 2 and result.body == "success"
    await eventually(lambda: wx.texts(USER), message="the reply through the customer-service API")
    await server.channel.drain()
    assert server.core.texts == ["3号楼地下室进水了"]
    assert wx.texts(USER) == ["收到：3号楼地下室进水了"]


async def test_concurrent_retries_reach_the_dialogue_once(wx, serve_channel):
    server = await start(wx, serve_channel, FakeCore(slow(0.3)))
    query, body = wx.envelope(wx.text(USER, "井盖丢了"), encrypt=False)
    wx._grant(USER, (5, 3600))
    async with aiohttp.ClientSession() as http:
        async def post():
            async with http.post(server.url(), params=query, data=body) as answer:
                return await answer.text()
        answers = await asyncio.gather(*(post() for _ in range(4)))
    assert server.core.texts == ["井盖丢了"]
    assert sorted(a == "success" for a in answers) == [False, True, True, True]


async def test_retries_landing_on_another_process_reach_the_dialogue_once(wx, serve_channel, redis_url):
    url, tag = redis_url
    wx.appid = f"wx{tag}"
    first = await start(wx, serve_channel, redis_url=url)
    second = await serve_channel(WeChatInput.from_credentials(wx.credentials(redis_url=url)), first.core)
    fields = wx.text(USER, "楼道堆满杂物")
    await wx.push(fields)
    result = await wx.push(fields, url=second.url())
    assert first.core.texts == ["楼道堆满杂物"]
    assert result.reply["Content"] == "收到：楼道堆满杂物"


async def test_a_slow_turn_answers_success_and_replies_through_customer_service(wx, serve_channel):
    server = await start(wx, serve_channel, FakeCore(slow(0.6)), reply_budget=0.2)
    result = await wx.push(wx.text(USER, "家里停水了"))
    assert result.attempts == 1 and result.body == "success" and result.reply is None
    await server.channel.drain()
    assert wx.texts(USER) == ["收到：家里停水了"]


async def test_outside_the_48_hour_window_the_template_message_is_used(wx):
    channel = WeChatInput.from_credentials(wx.credentials(fallback_template=TEMPLATE))
    wx.subscribed.add(USER)
    wx.grants[USER] = [Grant(5, 0.0)]  # wrote long ago
    await channel.get_output_channel().send_text_message(USER, "您反映的9号楼漏雨已修好，满意吗？")
    assert wx.texts(USER) == [] and wx.errors() == [45015]
    [template] = wx.sent("message/template/send", USER)
    assert template["template_id"] == "TPL_FOLLOW_UP"
    assert template["data"]["thing1"]["value"] == "您反映的9号楼漏雨…"


async def test_the_window_quota_falls_back_to_the_template_and_errors_surface_without_one(wx):
    with_template = WeChatInput.from_credentials(wx.credentials(fallback_template=TEMPLATE)).get_output_channel()
    without = WeChatInput.from_credentials(wx.credentials()).get_output_channel()
    wx._grant(USER, (5, 3600))
    for i in range(5):
        await with_template.send_text_message(USER, f"通知{i}")
    await with_template.send_text_message(USER, "第六条")
    assert len(wx.texts(USER)) == 5 and len(wx.sent("message/template/send")) == 1
    with pytest.raises(WeChatAPIError) as error:
        await without.send_text_message(USER, "第七条")
    assert error.value.errcode == 45047


async def test_an_invalid_token_is_refreshed_once_and_the_call_retried(wx, monkeypatch):
    out = WeChatInput.from_credentials(wx.credentials()).get_output_channel()
    wx._grant(USER, (5, 3600))
    await out.send_text_message(USER, "第一条")
    wx.tokens.invalidate_all()
    await out.send_text_message(USER, "第二条")
    assert wx.texts(USER) == ["第一条", "第二条"] and wx.tokens.fetches == 2 and wx.errors() == [40001]

    def always_invalid(token):
        from tests.standins.wechat import WeChatError
        raise WeChatError(40001, "invalid credential")

    monkeypatch.setattr(wx.tokens, "check", always_invalid)
    with pytest.raises(WeChatAPIError) as error:
        await out.send_text_message(USER, "第三条")
    assert error.value.errcode == 40001 and wx.tokens.fetches == 3


async def test_processes_share_one_access_token_through_redis(wx, redis_url):
    url, tag = redis_url
    wx.appid = f"wx{tag}"
    wx._grant(USER, (5, 3600))
    for _ in range(2):
        out = WeChatInput.from_credentials(wx.credentials(redis_url=url)).get_output_channel()
        await out.send_text_message(USER, "通知")
    assert wx.tokens.fetches == 1 and len(wx.texts(USER)) == 2


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                  b"<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>"
                  b"<MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>")


async def test_bad_input_gets_a_clear_answer(wx, serve_channel):
    server = await start(wx, serve_channel, max_body_bytes=4096)
    async with aiohttp.ClientSession() as http:
        query, _ = wx.envelope(wx.text(USER, "x"), encrypt=False)
        for body, status in [(BILLION_LAUGHS, 400), (b"<xml><unclosed>", 400), (b"not xml at all", 400),
                             (b"<xml><MsgType>text</MsgType></xml>", 400), (b"<xml>" + b"x" * 5000 + b"</xml>", 413)]:
            async with http.post(server.url(), params=query, data=body) as answer:
                assert answer.status == status, body[:30]
                assert "Traceback" not in await answer.text()
    video = {"FromUserName": USER, "MsgType": "video", "MediaId": "m", "ThumbMediaId": "t", "MsgId": 42}
    link = {"FromUserName": USER, "MsgType": "link", "Title": "t", "Description": "d", "Url": "http://x", "MsgId": 43}
    for fields in (video, link):
        assert (await wx.push(fields)).reply["Content"] == UNSUPPORTED
    assert server.core.messages == []


async def test_events_become_intents(wx, serve_channel):
    server = await start(wx, serve_channel)
    welcome = await wx.push(wx.event(USER, "subscribe"))
    report = await wx.push(wx.event(USER, "CLICK", "LINLI_REPORT"))
    faq = await wx.push(wx.event(USER, "CLICK", "LINLI_FAQ_UNMANAGED"))
    unknown = await wx.push(wx.event(USER, "CLICK", "SOMETHING_ELSE"))
    view = await wx.push(wx.event(USER, "VIEW", "https://example.org"))
    bye = await wx.push(wx.event("o_someone_who_leaves_0000000", "unsubscribe"))
    await server.channel.drain()
    assert server.core.texts == ["/greet", "/report_issue", "没有物业的楼谁来管", "/unsubscribe_notices"]
    assert [m.metadata["event"] for m in server.core.messages] == ["subscribe", "menu", "menu", "unsubscribe"]
    assert welcome.reply["Content"] == "收到：/greet" and report.reply["Content"] == "收到：/report_issue"
    assert faq.reply is not None and unknown.reply is None and view.reply is None and bye.reply is None
    assert wx.texts() == []


async def test_pictures_voice_and_locations(wx, serve_channel):
    server = await start(wx, serve_channel)
    image = wx.image(USER)
    await wx.push(image)
    await wx.push(wx.voice(USER, "我家楼下的井盖丢了"))
    unclear = await wx.push(wx.voice(USER, ""))
    await wx.push(wx.location(USER, 39.9612, 116.2905, "北京市海淀区万柳西园"))
    photo, voice, place = server.core.messages
    assert (photo.text, photo.metadata["photo"], photo.metadata["photo_url"]) == \
        (PHOTO_TEXT, image["MediaId"], image["PicUrl"])
    assert voice.text == "我家楼下的井盖丢了"
    assert unclear.reply["Content"] == VOICE_UNCLEAR
    assert place.text == LOCATION_TEXT
    assert place.metadata["location"] == {"latitude": 39.9612, "longitude": 116.2905, "label": "北京市海淀区万柳西园"}


async def test_buttons_are_numbered_and_answers_map_back_to_payloads(wx, serve_channel):
    async def confirm(message: UserMessage) -> None:
        if message.metadata.get("button"):
            return await message.output_channel.send_text_message(message.sender_id, f"好的：{message.text}")
        await message.output_channel.send_text_message(message.sender_id, "我记下了：9号楼漏雨。")
        await message.output_channel.send_text_with_buttons(
            message.sender_id, "确认提交吗？", [{"title": "确认", "payload": "/affirm"},
                                             {"title": "修改", "payload": "/deny"}])

    server = await start(wx, serve_channel, FakeCore(confirm))
    offer = await wx.push(wx.text(USER, "9号楼漏雨"))
    assert offer.reply["Content"].startswith("我记下了：9号楼漏雨。\n\n确认提交吗？\n\n回复数字选择：\n1. <a href=")
    assert "msgmenucontent=修改&msgmenuid=2" in offer.reply["Content"]
    await wx.push(wx.text(USER, "1"))
    await wx.push(wx.text(USER, "2"))  # the last reply offered no buttons: 2 is just 2
    await wx.push(wx.text(USER, "再报一件"))
    await wx.push(wx.text(USER, "修改", bizmsgmenuid=2))
    assert server.core.texts == ["9号楼漏雨", "/affirm", "2", "再报一件", "/deny"]


async def test_long_replies_go_out_in_pieces_within_the_byte_limit(wx, serve_channel):
    notice = "汛期将至，请检查阳台和屋顶的排水口，有积水及时告诉我们。" * 60

    async def announce(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, notice)

    server = await start(wx, serve_channel, FakeCore(announce))
    result = await wx.push(wx.text(USER, "通知"))
    await server.channel.drain()
    pieces = [result.reply["Content"], *wx.texts(USER)]
    assert len(pieces) == 3 and all(len(p.encode()) <= 2048 for p in pieces)
    assert "".join(pieces) == notice


def test_settings_name_what_is_missing():
    with pytest.raises(ValueError, match="secret, token"):
        WeChatSettings.from_credentials({"appid": "wx1"})
    with pytest.raises(ValueError, match="43 characters"):
        WeChatSettings.from_credentials({"appid": "wx1", "secret": "s", "token": "t", "encoding_aes_key": "short"})



async def test_with_redis_down_the_user_is_asked_to_send_again_and_nothing_is_heard(wx, serve_channel):
    from bot.config.runtime import runtime_config
    from tests.stack import free_port

    server = await start(wx, serve_channel, redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nobody listens
    result = await wx.push(wx.text(USER, "楼道堆满杂物"))
    assert result.reply["Content"] == runtime_config().system_busy
    assert server.core.texts == []
