"""Complaints end to end through each platform: the stand-ins deliver what the platforms would
deliver to a real Linli stack (Rasa server with the channels of credentials.yml, action server),
and the ticket lands in the database; a follow-up goes back out through Telegram and its buttons
close the ticket."""
from __future__ import annotations

import re
import uuid

import pytest
import yaml
from sqlalchemy import create_engine

from bot.cli.channels import TELEGRAM_CLASS, WECHAT_CLASS
from bot.core.clock import ManualClock, utcnow
from bot.tickets.store import TicketStore
from bot.workflows import followups, planning
from tests.scheduling import start_scheduler, wait_for
from tests.stack import start_stack, ticket_id_in
from tests.standins.server import LoopThread
from tests.standins.telegram import TelegramStandIn
from tests.standins.wechat import WeChatStandIn
from tests.standins.wecom import WeComStandIn

pytestmark = pytest.mark.slow
WECOM_CLASS = "bot.channels.wecom.WeComInput"
TICKET = re.compile(r"GD\d{12}")


@pytest.fixture(scope="module")
def platforms(tmp_path_factory):
    loop = LoopThread()
    telegram = loop.run(TelegramStandIn().start())
    wechat = loop.run(WeChatStandIn().start())
    wecom = loop.run(WeComStandIn().start())
    tmp = tmp_path_factory.mktemp("channels_e2e")
    credentials = tmp / "credentials.yml"
    credentials.write_text(yaml.safe_dump({
        "rest": None,
        TELEGRAM_CLASS: {"token": telegram.token, "secret_token": "e2e-secret", "base_url": telegram.base_url},
        WECHAT_CLASS: wechat.credentials(encoding_aes_key=wechat.encoding_aes_key),
        WECOM_CLASS: wecom.credentials(),
    }, allow_unicode=True))
    stack = start_stack(tmp, credentials=str(credentials))
    telegram.webhook = {"url": f"{stack.url}/webhooks/linli_telegram/webhook", "secret_token": "e2e-secret"}
    wechat.callback_url = f"{stack.url}/webhooks/wechat/webhook"
    wecom.callback_url = f"{stack.url}/webhooks/wecom/webhook"
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    yield loop, stack, TicketStore(engine=engine), telegram, wechat, wecom
    stack.stop()
    engine.dispose()
    for standin in (telegram, wechat, wecom):
        loop.run(standin.stop())
    loop.close()


def telegram_turn(loop, telegram, update) -> list[dict]:
    """Delivers an update to the webhook; returns the messages the bot sent in answer."""
    before = len(telegram.sent())
    status, _ = loop.run(telegram.deliver(update))
    assert status == 200
    return telegram.sent()[before:]


def button(message: dict, title: str) -> str:
    keys = [k for row in message["reply_markup"]["inline_keyboard"] for k in row]
    return next(k["callback_data"] for k in keys if k["text"] == title)


def titles(message: dict) -> list[str]:
    return [k["text"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for k in row]


def offering(messages: list[dict], title: str, containing: str = "") -> list[dict]:
    """The messages with a button ``title`` (and ``containing`` in their text)."""
    return [m for m in messages if title in titles(m) and containing in m["text"]]


def test_a_complaint_through_telegram_becomes_a_ticket_and_its_followup_closes_it(platforms):
    loop, stack, tickets, telegram, _, _ = platforms
    user = 700000 + uuid.uuid4().int % 99999
    asked = telegram_turn(loop, telegram, telegram.message_update(user, "望园2号楼3单元电梯坏了 电话13812349876"))
    [confirmation] = offering(asked, "确认提交")
    assert "138****9876" in confirmation["text"] and "13812349876" not in confirmation["text"]
    done = telegram_turn(loop, telegram, telegram.callback_update(user, button(confirmation, "确认提交")))
    ticket = tickets.get(ticket_id_in(" ".join(m["text"] for m in done)))
    assert (ticket.category, ticket.reporter_channel, ticket.reporter_id) == ("elevator", "linli_telegram", str(user))
    assert ticket.handler_name == "金管家物业"

    seen = len(telegram.sent(chat_id=user))
    clock = ManualClock(utcnow())
    scheduler = start_scheduler(tickets.engine, stack.url, clock)
    try:
        planning.plan(scheduler.context, tickets.transition(ticket.id, "resolved", "staff:wang", "换了主板"))
        clock.set(followups.followups(tickets.engine, ticket.id)[0].due_at)
        scheduler.wait_idle(60)
        wait_for(lambda: offering(telegram.sent(chat_id=user)[seen:], "已解决", ticket.id),
                 message="the follow-up question reaching Telegram")
    finally:
        scheduler.stop()
    [question] = offering(telegram.sent(chat_id=user)[seen:], "已解决", ticket.id)
    [satisfaction] = offering(telegram_turn(loop, telegram, telegram.callback_update(user, button(question, "已解决"))),
                              "满意")
    closing = telegram_turn(loop, telegram, telegram.callback_update(user, button(satisfaction, "满意")))
    assert closing and tickets.get(ticket.id).status == "closed"
    assert telegram.too_many_requests == 0


def test_a_complaint_in_a_telegram_group_is_moved_to_a_private_chat(platforms):
    loop, _, _, telegram, _, _ = platforms
    user, group = 710000 + uuid.uuid4().int % 9999, -100000 - uuid.uuid4().int % 9999
    sent = telegram_turn(loop, telegram, telegram.message_update(
        user, f"@{telegram.username} 5号楼502漏水了 电话13812349876", chat_id=group))
    assert any(f"t.me/{telegram.username}?start=report" in m["text"] for m in sent), "the private chat is offered"
    for message in sent:
        assert message["chat_id"] == group  # the group's id, a number, as the Bot API reads it
        assert "13812349876" not in message["text"] and "502" not in message["text"]


def test_a_complaint_through_wechat_becomes_one_ticket_even_when_wechat_retries(platforms):
    loop, _, tickets, _, wechat, _ = platforms
    user = f"oWX{uuid.uuid4().hex[:12]}"
    offer = loop.run(wechat.push(wechat.text(user, "万柳西园9号楼2单元楼道里堆满了杂物 电话13912345678"), encrypt=True))
    assert offer.reply and "139****5678" in offer.reply["Content"]
    confirmed = loop.run(wechat.push(wechat.text(user, "确认"), encrypt=True, lose_first_response=True))
    assert confirmed.attempts == 2, "WeChat sent the confirmation twice"
    replies = (confirmed.reply or {}).get("Content", "") + " ".join(wechat.texts(user))
    ticket = tickets.get(ticket_id_in(replies))
    assert (ticket.category, ticket.reporter_channel, ticket.reporter_id) == ("corridor_clutter", "wechat", user)
    assert [t.id for t in tickets.list(limit=500) if t.reporter_id == user] == [ticket.id]


def test_staff_report_through_the_wechat_work_app_becomes_a_ticket(platforms):
    loop, _, tickets, _, _, wecom = platforms
    offer = loop.run(wecom.push(wecom.text("lisi", "望园3号楼2单元电梯坏了 电话13712345678")))
    shown = (offer.reply or {}).get("Content", "") + " ".join(wecom.app_texts("lisi"))
    assert "137****5678" in shown and "13712345678" not in shown
    confirmed = loop.run(wecom.push(wecom.text("lisi", "确认")))
    wait_for(lambda: TICKET.search((confirmed.reply or {}).get("Content", "") + " ".join(wecom.app_texts("lisi"))),
             message="the ticket number in the answer")
    replies = (confirmed.reply or {}).get("Content", "") + " ".join(wecom.app_texts("lisi"))
    ticket = tickets.get(ticket_id_in(replies))
    assert (ticket.category, ticket.reporter_channel, ticket.reporter_id) == ("elevator", "wecom", "lisi")


def test_forged_platform_requests_reach_nobody(platforms):
    loop, stack, _, telegram, wechat, wecom = platforms
    status, _ = loop.run(telegram.deliver(telegram.message_update(1, "你好"), secret="forged"))
    assert status == 403, "a wrong secret token is refused as forbidden"
    forged = loop.run(wecom.push(wecom.text("zhangsan", "你好"), forge=True, retries=0))
    assert (forged.attempts, forged.status, forged.body) == (1, 403, "invalid signature")
