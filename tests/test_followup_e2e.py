"""End to end: a real Rasa server and action server (REST channel), the scheduler in this process on
a manual clock, delivering through trigger_intent; residents, staff and riders tap buttons through
the REST channel."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, time, timedelta

import httpx
import pytest
from sqlalchemy import create_engine

from bot.core.clock import ManualClock, utcnow
from bot.messaging.delivery import delivered
from bot.volunteers import nudges
from bot.workflows import digest, followups, planning
from tests.scheduling import start_scheduler
from tests.stack import start_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A stack of its own: these residents report the same leaks as those of other modules, and
    would be offered those tickets as duplicates."""
    running = start_stack(tmp_path_factory.mktemp("followup_e2e"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def work(stack):
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    scheduler = start_scheduler(engine, stack.url, ManualClock(utcnow()), sweep_seconds=60.0)
    scheduler.wait_idle()
    yield scheduler.context
    scheduler.stop()
    engine.dispose()


def advance(work, **delta):
    work.clock.advance(**delta)
    work.schedule.wait_idle(60)


def at(work, moment):
    work.clock.set(max(moment, work.clock()))
    work.schedule.wait_idle(60)


def new_ticket(stack, sender, text="万柳西园5号楼2单元502屋顶漏水了，下雨就往下滴，电话13812345678"):
    stack.texts(sender, text)
    reply = stack.texts(sender, "确认")
    return re.search(r"GD\d{12}", reply).group(0)


def resolve(work, ticket_id):
    return planning.plan(work, work.tickets.transition(ticket_id, "resolved", "staff:wang", "已修好"))


def sent(work, key):
    [record] = delivered(work.engine, key)
    assert record.status == "sent", record.error
    return record.messages


def tap(stack, sender, messages, title):
    button = next(b for m in messages for b in m.get("buttons", []) if b["title"] == title)
    return stack.say(sender, button["payload"])


def text_of(messages):
    return "\n".join(m.get("text", "") for m in messages)


def test_resolved_followed_up_answered_and_closed(stack, work):
    sender = f"fu-{uuid.uuid4().hex[:6]}"
    ticket_id = new_ticket(stack, sender)
    followup = resolve(work, ticket_id)
    advance(work, minutes=1)  # the sweep finds the resolution: news for the resident (after quiet hours)
    at(work, followup.due_at)
    question = sent(work, f"followup:{ticket_id}:1:ask")
    assert ticket_id in text_of(question) and "解决了吗" in text_of(question)
    assert [b["title"] for b in question[0]["buttons"]] == ["已解决", "部分解决", "没解决"]
    [news] = [r for r in delivered(work.engine, "progress:") if r.conversation_id == sender]
    assert ticket_id in text_of(news.messages) and "首华物业说已经办好了（已修好）" in text_of(news.messages)

    satisfaction = tap(stack, sender, question, "已解决")
    assert "满意吗" in text_of(satisfaction)
    assert [b["title"] for b in satisfaction[0]["buttons"]] == ["满意", "基本满意", "不满意"]
    closed = tap(stack, sender, satisfaction, "满意")
    assert "已办结" in text_of(closed)
    assert work.tickets.get(ticket_id).status == "closed"
    tracker = httpx.get(f"{stack.url}/conversations/{sender}/tracker", timeout=10).json()
    assert "EXTERNAL_followup" in [e.get("parse_data", {}).get("intent", {}).get("name")
                                   for e in tracker["events"] if e["event"] == "user"]

    late = tap(stack, sender, satisfaction, "不满意")
    assert "回访已经结束" in text_of(late) and work.tickets.get(ticket_id).status == "closed"


def test_dissatisfied_reopens_supervises_and_follows_up_again(stack, work):
    sender = f"fu-{uuid.uuid4().hex[:6]}"
    ticket_id = new_ticket(stack, sender)
    at(work, resolve(work, ticket_id).due_at)
    satisfaction = tap(stack, sender, sent(work, f"followup:{ticket_id}:1:ask"), "没解决")
    reopened = tap(stack, sender, satisfaction, "不满意")
    assert "重新派给首华物业" in text_of(reopened) and "万柳西园社区督办" in text_of(reopened)
    assert work.tickets.get(ticket_id).status == "reopened"

    asked_for_comment = tap(stack, sender, reopened, "补充意见")
    assert "说说情况" in text_of(asked_for_comment)
    thanks = stack.texts(sender, "天花板还在滴水，墙都发霉了")
    assert ticket_id in thanks and "记到工单" in thanks
    assert work.tickets.get(ticket_id).history[-1].note == "居民补充：天花板还在滴水，墙都发霉了"

    advance(work, minutes=1)  # the sweep finds the failed follow-up
    notice = text_of(sent(work, f"supervise:{ticket_id}:1:wecom:wanliuxiyuan-office"))
    assert "督办" in notice and ticket_id in notice and "天花板还在滴水" in notice

    at(work, resolve(work, ticket_id).due_at)
    second = sent(work, f"followup:{ticket_id}:2:ask")
    assert "重新办理后" in text_of(second)


def test_typed_followup_answers_count_as_the_buttons_do(stack, work):
    """The words are the answer, and the resident's own words reach the supervision notice."""
    unhappy, happy, brief = (f"fu-{uuid.uuid4().hex[:6]}" for _ in range(3))
    tickets = {}

    def asked(sender: str, building: int) -> None:
        """A ticket of the sender's, resolved and its follow-up asked (each in turn: a follow-up
        left waiting while the clock runs on for another would be given up on)."""
        tickets[sender] = new_ticket(stack, sender, f"万柳西园{building}号楼1单元301卫生间顶上渗水，电话13812345670")
        at(work, resolve(work, tickets[sender]).due_at)

    asked(unhappy, 3)
    question = stack.texts(unhappy, "没解决，昨天下雨又滴了")
    assert "满意吗" in question and "已经请首华物业重新处理" in question, question
    assert work.tickets.get(tickets[unhappy]).status == "reopened", "没解决 reopens the ticket at once"
    reopened = stack.texts(unhappy, "不满意")
    ticket_id = tickets[unhappy]
    assert "重新派给首华物业" in reopened and work.tickets.get(ticket_id).status == "reopened"
    [round_] = followups.followups(work.engine, ticket_id)
    assert (round_.solved, round_.satisfaction, round_.comment) == ("unsolved", "dissatisfied", "居民补充：没解决，昨天下雨又滴了")
    advance(work, minutes=1)
    notice = text_of(sent(work, f"supervise:{ticket_id}:1:wecom:wanliuxiyuan-office"))
    assert "昨天下雨又滴了" in notice and "居民意见：无" not in notice

    asked(happy, 4)
    closed = stack.texts(happy, "修好了，师傅挺负责的，满意")
    assert "已办结" in closed and work.tickets.get(tickets[happy]).status == "closed"
    assert followups.followups(work.engine, tickets[happy])[0].satisfaction == "satisfied"

    asked(brief, 6)
    assert "满意吗" in stack.texts(brief, "没有")  # the deny of 解决了吗？
    assert "重新派给" in stack.texts(brief, "一般吧")
    [round_] = followups.followups(work.engine, tickets[brief])
    assert (round_.solved, round_.satisfaction, round_.comment) == ("unsolved", "basically", None)
    assert "谢谢" in stack.texts(brief, "还是漏"), "the follow-up is answered: feedback again is a note as before"


def test_someone_elses_followup_changes_nothing(stack, work):
    owner, stranger = f"fu-{uuid.uuid4().hex[:6]}", f"fu-{uuid.uuid4().hex[:6]}"
    ticket_id = new_ticket(stack, owner)
    at(work, resolve(work, ticket_id).due_at)
    question = sent(work, f"followup:{ticket_id}:1:ask")
    # The stranger was never offered that button: its payload is read as words (bot.channels.guard),
    # so it answers nothing about the ticket and records nothing.
    refused = text_of(tap(stack, stranger, question, "没解决"))
    assert ticket_id not in refused and "已解决" not in refused
    assert followups.followups(work.engine, ticket_id)[0].solved is None
    forged = stack.texts(owner, '/followup_answer{"ticket_id":"GD209901010001","followup_result":"solved"}')
    assert "GD209901010001" not in forged and followups.followups(work.engine, ticket_id)[0].solved is None


def test_overdue_emergency_is_escalated_with_a_whistle(stack, work):
    sender = f"fu-{uuid.uuid4().hex[:6]}"
    ticket_id = new_ticket(stack, sender, "望园2号楼3单元电梯困人了，电话13812349876")
    advance(work, minutes=1)  # the sweep starts watching the new ticket
    at(work, work.tickets.get(ticket_id).deadline)
    whistle = text_of(sent(work, f"deadline:{ticket_id}:{work.tickets.get(ticket_id).deadline.isoformat()}"
                                 f":whistle:wecom:wangyuan-street-duty"))
    assert "吹哨" in whistle and ticket_id in whistle and "难点街道办" in whistle
    assert work.tickets.get(ticket_id).tier == "street"


def test_rider_nudge_and_its_buttons(stack, work):
    rider = f"rider-{uuid.uuid4().hex[:6]}"
    nudges.subscribe(work.engine, work.policy, "rest", rider, work.clock(), area="望园社区", times=["12:00"])
    advance(work, minutes=1)  # the sweep makes the jobs
    local = work.clock().astimezone(work.policy.zone)
    noon = datetime.combine(local.date() + timedelta(days=local.hour >= 12), time(12), work.policy.zone)
    at(work, noon)
    nudge = sent(work, f"nudge:rest:{rider}:{noon.date().isoformat()}T12:00")
    assert "望园社区" in text_of(nudge)
    assert "辛苦了" in text_of(tap(stack, rider, nudge, "一切正常"))
    assert "暂停到" in text_of(tap(stack, rider, nudge, "暂停7天"))
    assert nudges.get(work.engine, "rest", rider).paused_until is not None
    assert "不再发" in text_of(tap(stack, rider, nudge, "不再提醒"))
    assert not nudges.get(work.engine, "rest", rider).active


def test_digest_reaches_staff(stack, work):
    digest.send_digest(work)
    day = work.clock().astimezone(work.policy.zone).date().isoformat()
    text = text_of(sent(work, f"digest:{day}:wecom:wangyuan-street-duty"))
    assert "工单日报" in text and "新增" in text
