"""Call-backs (转人工) as the scheduler works them: the community's staff told at once with a 已回电
button, an overdue call-back escalated to the street on the manual clock, the resident told when it
is done, the digest listing what is still open — on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.callbacks import store as callbacks
from bot.core.clock import ManualClock
from bot.workflows import callbacks as callback_jobs
from bot.workflows import notices
from tests.scheduling import FakeRasa, beijing, start_scheduler

ZONE = "Asia/Shanghai"


@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


@pytest.fixture
def work(engine, rasa):
    scheduler = start_scheduler(engine, rasa.url, ManualClock(beijing("2026-11-23 10:00")))
    scheduler.wait_idle()
    yield scheduler.context
    scheduler.stop()


def notices_of(rasa, notice):
    return [c for c in rasa.named("EXTERNAL_staff_notice") if c.entities.get("notice") == notice]


def test_callback_is_noticed_escalated_when_overdue_and_the_resident_told_once_done(work, rasa):
    store = work.tickets
    ticket = store.create(category="leak", description="屋顶漏水", reporter_channel="wechat", reporter_id="o-amy",
                          community="望园社区", building="5", unit="1", room="501")
    request, _ = callbacks.request(store, "wechat", "o-amy", phone="13812345678", preferred_time="下午")
    callback_jobs.plan(work, request)
    work.schedule.wait_idle()
    [notice] = notices_of(rasa, "callback")
    assert (notice.output_channel, notice.conversation_id) == ("wecom", "wangyuan-office"), "the community's staff"
    response, params = notices.staff_notice(store, "callback", ZONE, callback_id=notice.entities["callback_id"])
    assert response == "utter_notice_callback" and params["phone"] == "13812345678" and params["time"] == "下午"
    assert params["buttons"] == [{"title": "已回电", "payload": f'/callback_done{{"callback_id":"{request.id}"}}'}]

    work.clock.set(request.expected_by - timedelta(minutes=1))
    work.schedule.wait_idle()
    assert not notices_of(rasa, "callback_overdue")
    work.clock.set(request.expected_by + timedelta(minutes=1))
    work.schedule.wait_idle()
    overdue = notices_of(rasa, "callback_overdue")
    assert {c.conversation_id for c in overdue} == {"wangyuan-street-duty", "wangyuan-office"}, "the street supervises"
    _, params = notices.staff_notice(store, "callback_overdue", ZONE, callback_id=str(request.id))
    assert params["phone"] == "138****5678", "the street's copy is masked"
    digest = notices.staff_notice(store, "digest", ZONE)[1]
    assert (digest["callbacks_open"], digest["callbacks_overdue"]) == (1, 1) and f"#{request.id}" in digest["callback_list"]

    done = callbacks.mark_done(store, request.id, "staff:wecom:wangyuan-office", "约好明天上门看")
    callback_jobs.plan(work, done)
    callback_jobs.plan(work, done)  # planned twice (the chat and the sweep): told once
    work.schedule.wait_idle()
    [told] = rasa.named(callback_jobs.DONE_INTENT)
    assert (told.output_channel, told.conversation_id, told.entities) == ("wechat", "o-amy", {"callback_id": str(request.id)})
    assert [s.action for s in callbacks.get(store, request.id).history] == [
        "requested", "notified", "escalated", "done", "told"]
    assert [e.action for e in store.get(ticket.id).history if e.action.startswith("callback_")] == [
        "callback_requested", "callback_escalated", "callback_done"]  # beside the handler's own steps
    assert notices.staff_notice(store, "digest", ZONE)[1]["callbacks_open"] == 0


def test_the_sweep_plans_a_request_nobody_planned(work, rasa):
    request, _ = callbacks.request(work.tickets, "wechat", "o-ben", phone="13812345678", community="万柳西园")
    assert callback_jobs.sweep(work) == 1 and callback_jobs.sweep(work) == 0
    work.schedule.wait_idle()
    [notice] = notices_of(rasa, "callback")
    assert notice.conversation_id == "wanliuxiyuan-office" and notice.entities["callback_id"] == str(request.id)


def test_staff_list_and_mark_done_in_chat_with_the_phone_only_in_private(work, rasa):
    from bot.people.roster import Staff
    from bot.staff.commands import CommandError, run_command

    store = work.tickets
    request, _ = callbacks.request(store, "wechat", "o-cat", phone="13812345678", community="望园")
    office = Staff("wecom", "wangyuan-office", ("望园社区",))
    response, private = run_command(store, office, "callbacks", "", private=True)
    assert response == "utter_staff_callback_list" and f"#{request.id}｜望园社区｜13812345678" in private["lines"]
    _, group = run_command(store, office, "callbacks", "", private=False)
    assert "138****5678" in group["lines"] and "13812345678" not in group["lines"]
    assert run_command(store, Staff("wecom", "wanliuxiyuan-office", ("万柳西园社区",)), "callbacks", "", True)[0] == \
        "utter_staff_no_callbacks", "another community's staff do not see it"
    with pytest.raises(CommandError):
        run_command(store, office, "callbacks", "马上打", private=True)
    response, done = run_command(store, office, "callbacks", f"{request.id} 已约好明天上门", private=True)
    assert (response, done) == ("utter_staff_callback_done", {"callback_id": request.id})
    assert callbacks.get(store, request.id).done_note == "已约好明天上门"
    work.clock.set(work.policy.outside_quiet(work.clock()))
    work.schedule.wait_idle()
    assert [c.conversation_id for c in rasa.named(callback_jobs.DONE_INTENT)] == ["o-cat"]
