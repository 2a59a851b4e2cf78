"""A call-back on a real stack: a resident asks for a person in a real conversation, the community's
staff get the notice in WeChat Work (the stand-in) and tap 已回电 there, the resident is told; a
second one is marked done from the command line."""
from __future__ import annotations

import re

import pytest
import yaml
from sqlalchemy import create_engine

from bot.callbacks import store as callbacks
from bot.config.policy import get_policy
from bot.core.clock import ManualClock, utcnow
from bot.messaging.delivery import delivered
from bot.messaging.recipients import recipients_for
from bot.people.profiles import Place, remember_place
from bot.scheduling.scheduler import Scheduler
from bot.tickets.store import TicketStore
from tests.scheduling import settings_for, wait_for
from tests.stack import response_text, start_stack
from tests.standins.server import LoopThread
from tests.standins.wecom import WeComStandIn
from tests.test_cli import linli

pytestmark = pytest.mark.slow
WECOM_CLASS = "bot.channels.wecom.WeComInput"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    loop = LoopThread()
    wecom = loop.run(WeComStandIn().start())
    tmp = tmp_path_factory.mktemp("callbacks_e2e")
    credentials, staff = tmp / "credentials.yml", tmp / "staff.yml"
    credentials.write_text(yaml.safe_dump({"rest": None, WECOM_CLASS: wecom.credentials()}, allow_unicode=True))
    staff.write_text(yaml.safe_dump({"staff": [
        {"channel": "wecom", "id": "zhangsan", "name": "望园社区张三", "communities": ["望园社区"]},
        {"channel": "wecom", "id": "lisi", "name": "街道李四", "digest": True}]}, allow_unicode=True))
    stack = start_stack(tmp, credentials=str(credentials), staff_file=str(staff))
    wecom.callback_url = f"{stack.url}/webhooks/wecom/webhook"
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    clock = ManualClock(utcnow())
    scheduler = Scheduler(settings_for(str(engine.url), stack.url, sweep_seconds=3600.0), clock=clock,
                          policy=get_policy(), engine=engine, recipients=recipients_for(get_policy(), staff)).start()
    yield loop, stack, TicketStore(engine=engine), wecom, scheduler
    scheduler.stop()
    stack.stop()
    engine.dispose()
    loop.run(wecom.stop())
    loop.close()


def run_due(scheduler) -> None:
    """The action server wrote its jobs at the real time: bring the manual clock there (past the
    quiet hours, when notices wait for the morning, but before any promised call-back time) and
    run them."""
    scheduler.clock.set(max(scheduler.clock(), get_policy().outside_quiet(utcnow())))
    scheduler.wait_idle(60)


def told(tickets, callback_id) -> str:
    [record] = delivered(tickets.engine, f"callback:{callback_id}:done")
    return " ".join(m.get("text", "") for m in record.messages or [])


def test_a_callback_asked_in_conversation_is_seen_by_staff_done_in_chat_and_the_resident_told(world):
    loop, stack, tickets, wecom, scheduler = world
    remember_place("rest", "cb-amy", Place("望园社区", "5"), tickets.engine)  # she reported from there before
    asked = stack.texts("cb-amy", "我想找个人工跟我说说")
    assert asked == response_text("utter_ask_callback_phone")
    assert stack.texts("cb-amy", "13812345678") == response_text("utter_ask_callback_time")
    [request] = [r for r in callbacks.list_callbacks(tickets) if r.sender_id == "cb-amy"] or [None]
    assert request is None, "nothing is recorded before the form is complete"
    done = stack.texts("cb-amy", "下午三点以后")
    [request] = [r for r in callbacks.list_callbacks(tickets) if r.sender_id == "cb-amy"]
    assert (request.phone, request.preferred_time) == ("13812345678", "下午三点以后")
    from actions.common import local_time
    assert done == response_text("utter_human_requested", expected_by=local_time(request.expected_by),
                                 phone="138****5678")
    again = stack.texts("cb-amy", "转人工")
    assert again == response_text("utter_callback_already", callback_id=request.id,
                                  expected_by=local_time(request.expected_by), phone="138****5678")
    assert len([r for r in callbacks.list_callbacks(tickets, status=None) if r.sender_id == "cb-amy"]) == 1

    run_due(scheduler)
    try:
        wait_for(lambda: any(f"#{request.id}" in t for t in wecom.app_texts("zhangsan")),
                 message="the call-back notice reaching the community's staff in WeChat Work")
    except AssertionError:
        raise AssertionError(str([(d.key, d.status, d.error, d.messages) for d in delivered(tickets.engine)])
                             + str([(j.id, j.next_run) for j in scheduler.jobs()]) + str(wecom.calls[-3:])
                             + str(scheduler.clock()) + stack.logs[1].read_text()[-3000:]) from None
    [notice] = [t for t in wecom.app_texts("zhangsan") if f"#{request.id}" in t]
    assert "13812345678" in notice and "下午三点以后" in notice and "已回电" in notice
    number = re.search(r"(\d+)\. 已回电", notice).group(1)
    assert not [t for t in wecom.app_texts("lisi") if f"#{request.id}" in t], "the street hears only if overdue"
    assert "（望园社区）" in notice

    before = len(wecom.app_texts("zhangsan"))
    reply = loop.run(wecom.push(wecom.text("zhangsan", number)))
    wait_for(lambda: len(wecom.app_texts("zhangsan")) > before or (reply.reply or {}).get("Content"),
             message="the answer to 已回电")
    answer = (reply.reply or {}).get("Content", "") + " ".join(wecom.app_texts("zhangsan")[before:])
    assert response_text("utter_staff_callback_done", callback_id=request.id) in answer
    assert callbacks.get(tickets, request.id).done_by == "staff:wecom:zhangsan"

    run_due(scheduler)
    assert response_text("utter_callback_told", callback_id=request.id) in told(tickets, request.id)
    assert [s.action for s in callbacks.get(tickets, request.id).history] == ["requested", "notified", "done", "told"]


def test_a_callback_without_a_place_on_file_goes_to_the_community_the_conversation_named(world):
    _, stack, tickets, _, _ = world
    assert "金管家物业" in stack.texts("cb-ben", "望园3号楼归谁管")
    stack.texts("cb-ben", "转人工")
    stack.texts("cb-ben", "13812340077")
    stack.texts("cb-ben", "随时都行")
    [request] = [r for r in callbacks.list_callbacks(tickets) if r.sender_id == "cb-ben"]
    assert request.community == "望园社区"


def test_a_resident_cannot_tap_done_and_staff_mark_one_done_from_the_cli(world):
    loop, stack, tickets, wecom, scheduler = world
    stack.texts("cb-bob", "转人工")
    stack.texts("cb-bob", "13900001111")
    stack.texts("cb-bob", "什么时候都行")
    [request] = [r for r in callbacks.list_callbacks(tickets) if r.sender_id == "cb-bob"]
    refused = stack.texts("cb-bob", f'/callback_done{{"callback_id":"{request.id}"}}')
    assert callbacks.get(tickets, request.id).status == "open", f"a resident's tap changes nothing: {refused}"

    listed = linli("callbacks", "list", env=stack.env)
    assert listed.returncode == 0 and f"#{request.id}" in listed.stdout and "139****1111" in listed.stdout
    assert "13900001111" not in listed.stdout
    marked = linli("callbacks", "done", str(request.id), "已电话联系", "--actor", "staff:cli:wang", env=stack.env)
    assert marked.returncode == 0, marked.stderr[-2000:]
    again = linli("callbacks", "done", str(request.id), env=stack.env)
    assert again.returncode == 1 and "已经标记为已回电" in again.stderr and "Traceback" not in again.stderr
    run_due(scheduler)
    assert response_text("utter_callback_told", callback_id=request.id) in told(tickets, request.id)
    shown = linli("callbacks", "show", str(request.id), env=stack.env)
    assert shown.returncode == 0 and "已电话联系" in shown.stdout and "staff:cli:wang" in shown.stdout
