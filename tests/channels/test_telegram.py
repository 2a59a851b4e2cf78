"""The linli_telegram channel against the Telegram Bot API stand-in."""
from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest
from rasa.core.channels.channel import UserMessage
from telegram.error import Forbidden

from bot.channels import LOCATION_TEXT, PHOTO_TEXT
from bot.channels.telegram import (
    COMMAND_HELP,
    MOVE_TO_PRIVATE,
    UNSUPPORTED,
    TelegramInput,
    TelegramSettings,
    poll_updates,
    split_text,
)
from tests.channels.harness import FakeCore, eventually
from tests.standins.telegram import TelegramLimits, TelegramStandIn, utf16_len

SECRET = "s3cret-Token_1"
USER = 1001
GROUP = -100500


@pytest.fixture
async def api():
    standin = await TelegramStandIn().start()
    yield standin
    await standin.stop()


def make_channel(api: TelegramStandIn, **overrides) -> TelegramInput:
    return TelegramInput.from_credentials({"token": api.token, "secret_token": SECRET, "base_url": api.base_url,
                                           "base_file_url": api.base_file_url, **overrides})


async def start(api, serve_channel, core=None, **overrides):
    channel = make_channel(api, **overrides)
    server = await serve_channel(channel, core)
    await channel.username()
    assert await channel.bot.set_webhook(server.url(), secret_token=SECRET)
    return server


async def settle(core: FakeCore, count: int = 1, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(core.messages) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def test_forged_or_missing_secret_token_is_refused(api, serve_channel):
    server = await start(api, serve_channel)
    update = api.message_update(USER, "你好")
    assert (await api.deliver(update, secret="forged"))[0] == 403
    assert (await api.deliver(update, secret=""))[0] == 403
    assert server.core.messages == [] and api.texts() == []


def test_settings_refuse_a_webhook_without_secret_token():
    with pytest.raises(ValueError, match="secret_token"):
        TelegramSettings.from_credentials({"token": "1:x"})


async def test_private_message_reaches_the_dialogue_and_the_reply_the_user(api, serve_channel):
    server = await start(api, serve_channel)
    status, _ = await api.deliver(api.message_update(USER, "5号楼漏水了"))
    assert status == 200
    [message] = server.core.messages
    assert (message.text, message.sender_id, message.input_channel) == ("5号楼漏水了", str(USER), "linli_telegram")
    assert message.metadata["chat_type"] == "private" and message.metadata["platform"] == "telegram"
    assert api.texts(USER) == ["收到：5号楼漏水了"]


@pytest.mark.parametrize("text, heard", [
    ("/start", "/greet"),
    ("/start report", "/report_issue"),
    ("/start status_GD202611220007", '/check_status{"ticket_id": "GD202611220007"}'),
    ("/help", "/help"),
    ("/report", "/report_issue"),
    ("/report 3号楼门口积水", "3号楼门口积水"),
    ("/status gd202611220007", '/check_status{"ticket_id": "GD202611220007"}'),
    ("/status@linli_test_bot", "/check_status"),
    ("/subscribe", "/subscribe_notices"),
    ("/unsubscribe", "/unsubscribe_notices"),
])
async def test_commands_become_intents(api, serve_channel, text, heard):
    server = await start(api, serve_channel)
    await api.deliver(api.message_update(USER, text))
    assert server.core.texts == [heard]
    assert server.core.messages[0].metadata["command"] == text[1:].split()[0].split("@")[0]


async def test_unknown_command_gets_the_command_list(api, serve_channel):
    server = await start(api, serve_channel)
    await api.deliver(api.message_update(USER, "/dance"))
    assert server.core.messages == [] and api.texts(USER) == [COMMAND_HELP]


async def test_group_messages_not_for_the_bot_are_ignored(api, serve_channel):
    server = await start(api, serve_channel)
    await api.deliver(api.message_update(USER, "今天天气不错", chat_id=GROUP))
    await api.deliver(api.message_update(USER, "/help@other_bot", chat_id=GROUP))
    await api.deliver(api.message_update(USER, "@someone_else 你好", chat_id=GROUP))
    assert server.core.messages == [] and api.texts() == []


async def test_group_mentions_and_replies_reach_the_dialogue_per_member(api, serve_channel):
    server = await start(api, serve_channel)
    await api.deliver(api.message_update(USER, "@linli_test_bot 楼道灯坏了", chat_id=GROUP))
    await api.deliver(api.message_update(1002, "9号楼", chat_id=GROUP, reply_to_bot=True))
    first, second = server.core.messages
    assert (first.text, first.sender_id) == ("楼道灯坏了", f"{GROUP}:{USER}")
    assert second.sender_id == f"{GROUP}:1002"
    assert first.metadata["chat_type"] == "group"
    assert first.metadata["private_link"] == "https://t.me/linli_test_bot?start=report"
    replies = api.sent("sendMessage", GROUP)
    assert [r["text"] for r in replies] == ["收到：楼道灯坏了", "收到：9号楼"]
    assert replies[0]["reply_parameters"]["message_id"] == first.metadata["message_id"]


async def test_group_never_sees_personal_details(api, serve_channel):
    async def overshare(message: UserMessage) -> None:
        out = message.output_channel
        await out.send_text_message(message.sender_id, "已登记工单GD202611220007，联系电话138****5678")
        await out.send_text_message(message.sender_id, "您住5号楼2单元502吧？")
        await out.send_text_with_buttons(message.sender_id, "电话对吗：13812345678",
                                         [{"title": "对", "payload": "/affirm"}])
        await out.send_text_message(message.sender_id, "5号楼归首华物业管，客服电话010-62881234")

    _server = await start(api, serve_channel, FakeCore(overshare))
    await api.deliver(api.message_update(USER, "@linli_test_bot 查下我的工单", chat_id=GROUP))
    sent = api.sent("sendMessage", GROUP)
    assert len(sent) == 4
    for notice in sent[:3]:
        assert "私聊" in notice["text"] and "GD2026" not in notice["text"] and "502" not in notice["text"]
        [[button]] = notice["reply_markup"]["inline_keyboard"]
        assert button["url"] == "https://t.me/linli_test_bot?start=report"
    assert sent[3]["text"] == "5号楼归首华物业管，客服电话010-62881234"


async def test_report_and_status_in_a_group_move_to_a_private_chat(api, serve_channel):
    server = await start(api, serve_channel)
    await api.deliver(api.message_update(USER, "/report", chat_id=GROUP))
    await api.deliver(api.message_update(USER, "/status@linli_test_bot GD202611220007", chat_id=GROUP))
    assert server.core.messages == []
    report, status = api.sent("sendMessage", GROUP)
    assert report["text"] == MOVE_TO_PRIVATE and "GD2026" not in status["text"]
    assert report["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://t.me/linli_test_bot?start=report"
    assert status["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://t.me/linli_test_bot?start=status"


async def test_buttons_are_inline_keyboards_and_presses_their_payloads(api, serve_channel):
    long_payload = '/inform{"community": "万柳西园社区", "building": "5", "note": "按钮载荷超过六十四字节"}'

    async def ask(message: UserMessage) -> None:
        if not message.metadata.get("button"):
            await message.output_channel.send_text_with_buttons(
                message.sender_id, "确认提交吗？",
                [{"title": "确认", "payload": "/affirm"}, {"title": "修改地址", "payload": long_payload}])

    server = await start(api, serve_channel, FakeCore(ask))
    await api.deliver(api.message_update(USER, "我要报修"))
    [sent] = api.sent("sendMessage", USER)
    [[confirm, change]] = sent["reply_markup"]["inline_keyboard"]
    assert confirm["text"] == "确认" and confirm["callback_data"].startswith("s:")  # signed by Linli
    assert confirm["callback_data"].endswith(":/affirm")
    assert change["callback_data"].startswith("cb:") and len(change["callback_data"].encode()) <= 64
    await api.deliver(api.callback_update(USER, confirm["callback_data"]))
    await api.deliver(api.callback_update(USER, change["callback_data"]))
    assert server.core.texts[1:] == ["/affirm", long_payload]
    assert server.core.messages[1].metadata["button"] is True
    assert len(api.answered_callbacks()) == 2


async def test_a_button_title_typed_out_is_the_press_until_a_turn_offers_none(api, serve_channel):
    async def ask(message: UserMessage) -> None:
        if message.text == "我要订阅":
            await message.output_channel.send_text_with_buttons(
                message.sender_id, "想收哪类？", [{"title": "停水停电", "payload": '/choose{"t":"outages"}'},
                                              {"title": "全都要", "payload": "/choose_all"}])
        else:
            await message.output_channel.send_text_message(message.sender_id, "好的")

    server = await start(api, serve_channel, FakeCore(ask))
    await api.deliver(api.message_update(USER, "我要订阅"))
    await api.deliver(api.message_update(USER, "只要停水停电的"))
    await api.deliver(api.message_update(USER, "全都要"))  # the last turn offered no buttons
    assert server.core.texts == ["我要订阅", '/choose{"t":"outages"}', "全都要"]
    assert [m.metadata.get("button") for m in server.core.messages] == [None, True, None]


async def test_photos_and_locations_ride_in_metadata(api, serve_channel):
    server = await start(api, serve_channel)
    await api.deliver(api.photo_update(USER))
    await api.deliver(api.photo_update(USER, caption="楼道里堆满了杂物"))
    await api.deliver(api.location_update(USER, 39.9612, 116.2905))
    bare, captioned, location = server.core.messages
    assert (bare.text, bare.metadata["photo"]) == (PHOTO_TEXT, "photo-1280")
    assert (captioned.text, captioned.metadata["photo"]) == ("楼道里堆满了杂物", "photo-1280")
    assert location.text == LOCATION_TEXT
    assert location.metadata["location"] == {"latitude": 39.9612, "longitude": 116.2905}


async def test_long_replies_are_split_at_the_limit(api, serve_channel):
    long_text = ("社区通知：汛期将至，请各位居民检查阳台排水。" * 500)[:9000]

    async def lecture(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, long_text)

    await start(api, serve_channel, FakeCore(lecture))
    await api.deliver(api.message_update(USER, "通知"))
    texts = api.texts(USER)
    assert len(texts) == 3 and all(utf16_len(t) <= 4096 for t in texts)
    assert "".join(texts) == long_text


def test_split_counts_utf16_units():
    parts = split_text("😀" * 3000)
    assert [utf16_len(p) for p in parts] == [4096, 1904]


async def test_bad_input_gets_a_clear_answer_never_a_crash(api, serve_channel):
    server = await start(api, serve_channel, max_body_bytes=10_000)
    import aiohttp

    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for body, status in [(b"{not json", 400), (b"[1, 2]", 400), (b'{"update_id": "x"}', 400),
                             (b'{"update_id": 1, "message": ' + b"[" * 50 + b"]" * 50 + b"}", 400),
                             (b'{"update_id": 2, "message": {"text": "' + b"x" * 20_000 + b'"}}', 413)]:
            async with http.post(server.url(), data=body, headers=headers) as reply:
                assert reply.status == status, body[:40]
    sticker = api.message_update(USER, sticker={"file_id": "s1", "file_unique_id": "s", "width": 512,
                                               "height": 512, "is_animated": False, "is_video": False,
                                               "type": "regular"})
    edited = {"update_id": 77, "edited_message": api.message_update(USER, "改一下")["message"]}
    orphan_reply = api.message_update(USER, "回复一条已删除的消息", chat_id=GROUP)
    for update in (sticker, edited, orphan_reply):
        assert (await api.deliver(update))[0] == 200
    assert server.core.messages == [] and api.texts() == [UNSUPPORTED]


async def test_a_redelivered_update_reaches_the_dialogue_once_even_on_another_process(
        api, serve_channel, redis_url):
    url, tag = redis_url
    token = f"{tag}:stand-in"
    api.token, api.bot_id = token, int(token.split(":")[0])
    first = await start(api, serve_channel, redis_url=url)
    second = await serve_channel(make_channel(api, redis_url=url), first.core)
    update = api.message_update(USER, "井盖丢了")
    await api.deliver(update)
    api.webhook["url"] = second.url()
    assert (await api.deliver(update))[0] == 200
    assert first.core.texts == ["井盖丢了"]


async def test_a_turn_completes_even_if_telegram_hangs_up(api, serve_channel):
    import aiohttp

    async def slow(message: UserMessage) -> None:
        await asyncio.sleep(0.5)
        await message.output_channel.send_text_message(message.sender_id, "工单已登记")

    server = await start(api, serve_channel, FakeCore(slow))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.1)) as http:
        with pytest.raises(asyncio.TimeoutError):
            await http.post(server.url(), json=api.message_update(USER, "9号楼漏雨"),
                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    await eventually(lambda: api.texts(USER), message="the shielded turn's reply")
    assert api.texts(USER) == ["工单已登记"]


async def test_429_retry_after_is_honoured_not_dropped(api, serve_channel):
    await start(api, serve_channel)
    api.forced_retry_after = [1]
    started = time.monotonic()
    await api.deliver(api.message_update(USER, "你好"))
    assert api.texts(USER) == ["收到：你好"]
    assert api.too_many_requests == 1 and time.monotonic() - started >= 1.0


async def test_500_messages_at_once_never_exceed_the_limits(api):
    """Real windows scaled down (30/0.25 s overall, 20/s per group, 1/0.05 s per chat) to keep it short."""
    limits = TelegramLimits(overall=(30, 0.25), group=(20, 1.0), chat=(1, 0.05))
    api.limits = limits
    channel = make_channel(api, rate_limits={"overall": limits.overall, "group": limits.group,
                                             "chat": limits.chat})
    out = channel.get_output_channel()
    chats = [2000 + i for i in range(100) for _ in range(4)] + [GROUP, GROUP - 1] * 50
    await asyncio.gather(*(out.send_text_message(str(chat), f"通知 {i}") for i, chat in enumerate(chats)))
    assert api.too_many_requests == 0
    assert len(api.sent("sendMessage")) == 500
    times = sorted(api.send_times())
    assert all(later - earlier >= 0.25 for earlier, later in zip(times, times[30:]))


async def test_proactive_messages_need_no_network_to_set_up_reach_members_privately_and_raise_errors(api):
    channel = make_channel(api)
    out = channel.get_output_channel()
    assert api.calls == []
    await out.send_text_message(str(USER), "您的工单已处理完毕，满意吗？")
    assert api.texts(USER) == ["您的工单已处理完毕，满意吗？"]
    await out.send_text_message(f"{GROUP}:{USER}", "您在群里报的事已派单，进展会私信告诉您")
    await out.send_text_message(str(GROUP), "本周六上午议事协商会")
    assert api.texts(USER)[1:] == ["您在群里报的事已派单，进展会私信告诉您"]
    assert api.texts(GROUP) == ["本周六上午议事协商会"]
    api.blocked.add(USER)
    with pytest.raises(Forbidden):
        await out.send_text_message(str(USER), "再问一次")


async def test_polling_mode_feeds_the_same_webhook(api, serve_channel):
    channel = make_channel(api)
    server = await serve_channel(channel)
    stop = asyncio.Event()
    poller = asyncio.ensure_future(poll_updates(channel.settings, server.url(), stop, poll_timeout=1))
    await eventually(lambda: api.sent("setMyCommands"), message="the poller set up (webhook deleted, commands set)")
    await api.deliver(api.message_update(USER, "有人在吗"))
    await api.deliver(api.message_update(USER, "电梯坏了"))
    await settle(server.core, 2)
    stop.set()
    await asyncio.wait_for(poller, 5)
    assert server.core.texts == ["有人在吗", "电梯坏了"]
    assert api.texts(USER) == ["收到：有人在吗", "收到：电梯坏了"]


def test_no_module_of_ours_imports_aiogram():
    root = Path(__file__).resolve().parents[2]
    for path in [*root.joinpath("bot").rglob("*.py"), *root.joinpath("actions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "aiogram" for n in names), path
    from rasa.core.channels.telegram import TelegramInput as RasaTelegram

    assert TelegramInput.name() != RasaTelegram.name() and not issubclass(TelegramInput, RasaTelegram)


async def test_with_redis_down_the_sender_is_asked_to_send_again_and_nothing_is_heard(api, serve_channel):
    from bot.config.runtime import runtime_config
    from tests.stack import free_port

    server = await start(api, serve_channel, redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nobody listens
    status, _ = await api.deliver(api.message_update(USER, "井盖丢了"))
    assert status == 200 and server.core.messages == []
    assert api.texts() == [runtime_config().system_busy]
