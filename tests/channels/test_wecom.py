"""The wecom (WeChat Work) channel: staff app callback and group robots, against the stand-in."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels.wecom import GroupRobot, RobotError, WeComInput, WeComSettings
from bot.channels.wxcommon import WeChatAPIError
from tests.channels.harness import FakeCore
from tests.channels.test_wxcrypto import MESSAGE_ENCRYPT, MESSAGE_NONCE, MESSAGE_SIGNATURE, MESSAGE_TIMESTAMP
from tests.standins.wecom import WeComStandIn

STAFF = "zhangsan"

# WeChat Work's official URL-verification sample (WXBizMsgCrypt VerifyURL).
SAMPLE = {"token": "QDG6eK", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
          "corp_id": "wx5823bf96d3bd56c7"}
SAMPLE_QUERY = {"msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589",
                "nonce": "263014780",
                "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="}
# and its message sample (WXBizMsgCrypt DecryptMsg): "hello" from member "mycreate", in test_wxcrypto.


@pytest.fixture
async def work():
    standin = await WeComStandIn(push_timeout=2.0, robot_limit=20, robot_period=1.0).start()
    yield standin
    await standin.stop()


async def start(work: WeComStandIn, serve_channel, core=None, **credentials):
    channel = WeComInput.from_credentials(work.credentials(**credentials))
    server = await serve_channel(channel, core)
    work.callback_url = server.url()
    return server


async def test_official_url_verification_sample(work, serve_channel):
    server = await start(work, serve_channel, **SAMPLE)
    server.channel.clock = lambda: int(SAMPLE_QUERY["timestamp"]) + 60  # the samples were signed in 2014
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url(), params=SAMPLE_QUERY) as answer:
            assert (answer.status, await answer.text()) == (200, "1616140317555161061")
        async with http.get(server.url(), params={**SAMPLE_QUERY, "msg_signature": "0" * 40}) as answer:
            assert answer.status == 403
    server.channel.clock = time.time
    assert (await work.verify_url())[0] == 200


async def test_official_message_sample_is_decrypted_and_answered(work, serve_channel):
    server = await start(work, serve_channel, **SAMPLE)
    server.channel.clock = lambda: int(MESSAGE_TIMESTAMP) + 60  # the sample was signed in 2014
    body = (f"<xml><ToUserName><![CDATA[{SAMPLE['corp_id']}]]></ToUserName><Encrypt><![CDATA[{MESSAGE_ENCRYPT}]]>"
            "</Encrypt><AgentID><![CDATA[218]]></AgentID></xml>")
    query = {"msg_signature": MESSAGE_SIGNATURE, "timestamp": MESSAGE_TIMESTAMP, "nonce": MESSAGE_NONCE}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url(), params=query, data=body.encode()) as answer:
            assert answer.status == 200
            reply = work.open_reply(await answer.text(), "mycreate")
        async with http.post(server.url(), params={**query, "msg_signature": "0" * 40}, data=body.encode()) as answer:
            assert answer.status == 403
    [message] = server.core.messages
    assert (message.text, message.sender_id, message.input_channel) == ("hello", "mycreate", "wecom")
    assert message.metadata["message_id"] == "4561255354251345929"
    assert reply["Content"] == "收到：hello"


async def test_forged_messages_are_refused(work, serve_channel):
    server = await start(work, serve_channel)
    assert (await work.push(work.text(STAFF, "伪造"), forge=True)).status == 403
    assert server.core.messages == []


async def test_staff_messages_are_answered_passively_and_encrypted(work, serve_channel):
    server = await start(work, serve_channel)
    result = await work.push(work.text(STAFF, "本周有多少超期工单"))
    assert result.reply["Content"] == "收到：本周有多少超期工单" and result.reply["AgentID"] == str(work.agent_id)
    [message] = server.core.messages
    assert (message.sender_id, message.input_channel) == (STAFF, "wecom")
    assert message.metadata["role"] == "staff" and message.metadata["platform"] == "wecom"


async def test_a_slow_turn_is_answered_through_the_app_message_api(work, serve_channel):
    async def slow(message: UserMessage) -> None:
        await asyncio.sleep(0.5)
        await message.output_channel.send_text_message(message.sender_id, "统计好了：3件超期")

    server = await start(work, serve_channel, FakeCore(slow), reply_budget=0.2)
    result = await work.push(work.text(STAFF, "超期工单"))
    assert result.body == "success" and result.attempts == 1
    await server.channel.drain()
    assert work.app_texts(STAFF) == ["统计好了：3件超期"]


async def test_proactive_messages_reach_staff_and_errors_surface(work):
    out = WeComInput.from_credentials(work.credentials()).get_output_channel()
    await out.send_text_message(STAFF, "GD202611220007 已超期，请督办")
    assert work.app_texts(STAFF) == ["GD202611220007 已超期，请督办"]
    with pytest.raises(WeChatAPIError) as error:
        await out.send_text_message("stranger", "你好")
    assert error.value.errcode == 81013


async def test_robots_post_to_groups_within_20_a_minute(work):
    """The real window (20 per 60 s) scaled to 20 per second on both sides."""
    out = WeComInput.from_credentials(work.credentials(
        robots={"xiyuan": "robot-key-xiyuan"}, robot_limit=[20, 1.0])).get_output_channel()
    await asyncio.gather(*(out.send_text_message("robot:xiyuan", f"防汛提醒第{i}条") for i in range(45)))
    posts = work.robot_posts()
    assert len(posts) == 45 and 45009 not in work.errors()
    times = sorted(p.at for p in posts)
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[20:]))


async def test_robot_texts_are_split_and_markdown_goes_through(work):
    out = WeComInput.from_credentials(work.credentials(robots={"xiyuan": "robot-key-xiyuan"})).get_output_channel()
    await out.send_text_message("robot:xiyuan", "明天上午9点至12点停水，请提前储水。" * 80)
    await out.send_custom_json("robot:xiyuan", {"markdown": "**停水通知**\n> 明天上午9点至12点"})
    texts = [p.body for p in work.robot_posts()]
    assert [t["msgtype"] for t in texts] == ["text", "text", "markdown"]
    assert all(len(t["text"]["content"].encode()) <= 2048 for t in texts[:2])


async def test_robots_never_post_personal_details(work):
    out = WeComInput.from_credentials(work.credentials(robots={"xiyuan": "robot-key-xiyuan"})).get_output_channel()
    for text in ("工单GD202611220007已办结", "5号楼2单元502的住户请联系13812345678"):
        with pytest.raises(RobotError, match="personal"):
            await out.send_text_message("robot:xiyuan", text)
    with pytest.raises(RobotError, match="no group robot"):
        await out.send_text_message("robot:unknown", "你好")
    assert work.robot_posts() == []


async def test_a_busy_robot_is_retried_after_waiting(work):
    work.robot_limit = 1
    robot = GroupRobot(f"{work.api_base_url}/cgi-bin/webhook/send?key=robot-key-xiyuan", limit=(20, 1.0),
                       busy_wait=1.0)
    await asyncio.gather(robot.send_text("第一条"), robot.send_text("第二条"))
    assert len(work.robot_posts()) == 2 and work.errors() == [45009]
    with pytest.raises(RobotError, match="93000"):
        await GroupRobot(f"{work.api_base_url}/cgi-bin/webhook/send?key=wrong").send_text("你好")


def test_settings_name_what_is_missing():
    with pytest.raises(ValueError, match="agent_id, secret"):
        WeComSettings.from_credentials({"corp_id": "ww1", "token": "t", "encoding_aes_key": "k" * 43})
