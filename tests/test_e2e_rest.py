"""End to end: a real Rasa server and action server, residents talking through the REST channel,
tickets checked in the database the stack writes to."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select

from bot.callbacks.models import CallbackRequest
from bot.tickets.models import Ticket
from bot.tickets.store import TicketStore
from tests.stack import response_text, ticket_id_in

pytestmark = pytest.mark.slow


@pytest.fixture
def tickets(stack):
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    yield TicketStore(engine=engine)
    engine.dispose()


def ticket_count(tickets):
    with tickets.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Ticket)).scalar()


def test_complete_complaint_in_one_message(stack, tickets):
    reply = stack.texts("e2e-alice", "万柳西园5号楼2单元502屋顶漏水了，下雨就往下滴，电话13812345678")
    assert "138****5678" in reply and "13812345678" not in reply and "5**" in reply
    reply = stack.texts("e2e-alice", "确认")
    ticket = tickets.get(ticket_id_in(reply))
    assert "首华物业" in reply
    assert (ticket.category, ticket.community, ticket.building, ticket.unit, ticket.room, ticket.phone) == (
        "leak", "万柳西园社区", "5", "2", "502", "13812345678")
    assert ticket.description == "万柳西园5号楼2单元5**屋顶漏水了，下雨就往下滴，电话138****5678", \
        "the description is stored masked: the phone and room have their own fields"
    assert (ticket.reporter_channel, ticket.reporter_id) == ("rest", "e2e-alice")


def test_asks_only_for_what_is_missing_with_a_faq_and_a_correction(stack, tickets):
    sender = "e2e-bob"
    assert "社区" in stack.texts(sender, "楼道里堆满了纸箱子旧家具，人都过不去")
    assert "哪栋楼" in stack.texts(sender, "望园")
    faq_then_question = stack.texts(sender, "12345是什么电话")
    assert "12345" in faq_then_question and "哪栋楼" in faq_then_question
    assert "几单元" in stack.texts(sender, "3号楼")
    assert "手机号" in stack.texts(sender, "1单元")
    summary = stack.texts(sender, "不用")
    assert "3号楼" in summary and "未留" in summary
    corrected = stack.texts(sender, "不对，是4号楼")
    assert "4号楼" in corrected and "3号楼" not in corrected
    ticket = tickets.get(ticket_id_in(stack.texts(sender, "对")))
    assert (ticket.category, ticket.community, ticket.building, ticket.phone) == (
        "corridor_clutter", "望园社区", "4", None)
    assert ticket.handler_name == "金管家物业"


def test_cancel_writes_nothing(stack, tickets):
    before = ticket_count(tickets)
    stack.texts("e2e-carol", "电梯坏了好几天了")
    assert "不登记" in stack.texts("e2e-carol", "算了不报了")
    assert ticket_count(tickets) == before


def test_a_complaint_in_a_group_chat_is_moved_to_a_private_chat(stack, tickets):
    before = ticket_count(tickets)
    reply = stack.texts("e2e-group", "望园5号楼2单元502漏水了 电话13812345678", metadata={"chat_type": "group"})
    assert "私聊" in reply and "502" not in reply and "5678" not in reply
    assert ticket_count(tickets) == before


def test_building_not_in_directory(stack, tickets):
    sender = "e2e-dan"
    stack.texts(sender, "暖气不热")
    stack.texts(sender, "望园社区")
    assert "没有99号楼" in stack.texts(sender, "99号楼")


def test_status_only_for_own_tickets(stack, tickets):
    stack.texts("e2e-erin", "西园9号楼下水道堵了 污水往外冒 电话13912345678")
    ticket_id = ticket_id_in(stack.texts("e2e-erin", "确认"))
    own = stack.texts("e2e-erin", f"查一下{ticket_id.lower()}")
    assert ticket_id in own and "万柳西园社区" in own
    other = stack.texts("e2e-frank", f"帮我查查{ticket_id}")
    assert "不是您提交的" in other and "下水道" not in other
    assert "格式不对" in stack.texts("e2e-frank", "查工单GD2026")
    assert "没有找到" in stack.texts("e2e-frank", "查进度GD209901010001")


def test_a_resident_lists_their_tickets_newest_first_a_few_at_a_time(stack, tickets):
    made = [tickets.create(category="corridor_clutter", description=f"{n}号楼楼道堆了纸箱", reporter_channel="rest",
                           reporter_id="e2e-grace", community="万柳西园社区", building=str(n), unit="1")
            for n in range(1, 8)]
    first = stack.say("e2e-grace", "我报过几个事？")
    text = "\n".join(m.get("text", "") for m in first)
    assert "一共 7 件" in text and "第 1–5 件" in text, text
    assert text.index(made[-1].id) < text.index(made[-2].id), "newest first"
    assert made[0].id not in text and made[1].id not in text
    [more] = [b for m in first for b in m.get("buttons", [])]
    assert more["title"] == "更多"
    second = stack.say("e2e-grace", more["payload"])
    text = "\n".join(m.get("text", "") for m in second)
    assert "第 6–7 件" in text and made[1].id in text and made[0].id in text and made[2].id not in text
    assert not [b for m in second for b in m.get("buttons", [])], "nothing more"
    assert "还没有报过事" in stack.texts("e2e-heidi", "我报的事都怎么样了")
    latest = stack.texts("e2e-grace", "查进度")
    assert made[-1].id in latest and made[-2].id not in latest, "one ticket asked for: the latest, as before"


def test_out_of_scope_is_answered_with_what_linli_does_and_files_nothing(stack, tickets):
    before = ticket_count(tickets)
    for text in ("帮我叫个外卖", "明天北京天气咋样"):
        reply = stack.texts("e2e-ivan", text)
        assert "帮不上" in reply and "邻里小助手" in reply, (text, reply)
    assert "邻里小助手" in stack.texts("e2e-ivan", "你们能干啥")
    assert ticket_count(tickets) == before


def test_directory_answers(stack):
    unmanaged = stack.texts("e2e-gina", "望园6号楼没物业，坏了找谁管")
    assert "无物业管理楼栋" in unmanaged and "010-63862002" in unmanaged
    hotline = stack.texts("e2e-hank", "物业电话多少")
    assert "社区" in hotline
    stack.texts("e2e-hank", "万柳西园")
    answer = stack.texts("e2e-hank", "5号楼")
    assert "首华物业" in answer and "010-63870002" in answer


def test_request_human_asks_phone_and_time_and_records_one_callback(stack, tickets):
    from actions.common import local_time

    assert stack.texts("e2e-ivy", "我要找人工客服") == response_text("utter_ask_callback_phone")
    assert stack.texts("e2e-ivy", "138 1234 5678") == response_text("utter_ask_callback_time")
    reply = stack.texts("e2e-ivy", "上午")
    with tickets.engine.connect() as conn:
        [row] = conn.execute(select(CallbackRequest).where(CallbackRequest.sender_id == "e2e-ivy")).all()
    assert (row.channel, row.phone, row.preferred_time, row.note, row.status) == (
        "rest", "13812345678", "上午", "我要找人工客服", "open")
    assert reply == response_text("utter_human_requested", expected_by=local_time(row.expected_by), phone="138****5678")
    assert "13812345678" not in reply


#: Each bad input and the one answer it must get. Input with nothing to read (no letter, digit or
#: Chinese character) is not understood: the options are offered, nothing is started.
BAD_INPUT = [
    ("", "utter_empty_message", {}),
    ("   ", "utter_empty_message", {}),
    pytest.param("😡😡😡", "utter_default", {}, marks=pytest.mark.xfail(strict=True, reason=(
        "product: emoji alone is read as report_issue (0.89) with category noise, and the complaint form "
        "asks for the community; see the report's product changes"))),
    ("hello how are you doing today", "utter_faq/bot_capabilities", {}),
    ("漏" * 10000, "utter_message_too_long", {"max_chars": "2000"}),
    pytest.param("%$#@!", "utter_default", {}, marks=pytest.mark.xfail(strict=True, reason=(
        "product: punctuation alone is read as report_issue (0.95) and starts the complaint form "
        "(utter_ask_category); see the report's product changes"))),
]


@pytest.mark.parametrize("text, response, values", BAD_INPUT, ids=["empty", "blank", "emoji", "english", "too-long",
                                                                    "symbols"])
def test_bad_input_gets_a_clear_answer_and_writes_nothing(stack, tickets, text, response, values, request):
    sender = f"e2e-bad-{request.node.callspec.id}"  # a conversation of its own: no earlier miss counts
    before = ticket_count(tickets)
    [message] = stack.say(sender, text)
    assert message["text"] == response_text(response, **values)
    stack.say(sender, "算了")
    assert ticket_count(tickets) == before
