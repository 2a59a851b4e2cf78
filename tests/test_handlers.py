"""The handler's side on a running scheduler (SQLite and PostgreSQL), a manual clock and a stand-in
for Rasa's trigger_intent API: dispatch notices to the handlers file's contacts (failover, night
contacts, quiet hours), the sign-for limit, sign-for, returns and re-dispatch, interim notes, and
the handlers file itself."""
from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select

from bot.core.clock import ManualClock
from bot.core.db import session_scope
from bot.handlers import contacts
from bot.handlers import work as handler_work
from bot.handlers.policy import handler_policy
from bot.messaging.delivery import delivered
from bot.staff.tickets import act
from bot.tickets.errors import UnknownTicket
from bot.tickets.models import Ticket
from bot.workflows.notices import staff_notice
from tests.scheduling import FakeRasa, beijing, start_scheduler

MONDAY_10 = "2026-11-23 10:00"
HANDLERS = {"handlers": [
    {"name": "首华物业", "contacts": [
        {"channel": "wecom", "id": "sh-desk", "name": "客服值班", "hours": "08:00-20:00"},
        {"channel": "linli_telegram", "id": "9001", "name": "工程部", "hours": "08:00-18:00"},
        {"channel": "wecom", "id": "sh-night", "name": "中控室夜班", "night": True}]},
    {"name": "万柳西园社区", "contacts": [{"channel": "wecom", "id": "xy-office", "name": "社区办公室"}]},
    {"name": "北京市电车公司", "contacts": [{"channel": "wecom", "id": "dc-desk", "name": "房产科"}]},
]}


@pytest.fixture
def handlers_file(tmp_path, monkeypatch):
    path = tmp_path / "handlers.yml"
    path.write_text("# test handlers\n" + yaml.safe_dump(HANDLERS, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("LINLI_HANDLERS_FILE", str(path))
    return path


@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


@pytest.fixture
def work(engine, rasa, handlers_file):
    scheduler = start_scheduler(engine, rasa.url, ManualClock(beijing(MONDAY_10)))
    scheduler.wait_idle()
    yield scheduler.context
    scheduler.stop()


def advance(work, **delta):
    work.clock.advance(**delta)
    work.schedule.wait_idle()


def report(work, **overrides):
    fields = {"category": "leak", "description": "屋顶漏水，下雨就滴", "reporter_channel": "rest",
              "reporter_id": "alice", "community": "万柳西园", "building": "5", "phone": "13812345678", **overrides}
    return work.tickets.create(**fields)


def notices(rasa, ticket_id):
    return [c.conversation_id for c in rasa.named("EXTERNAL_handler_notice") if c.entities["ticket_id"] == ticket_id]


def steps(work, ticket_id, *actions):
    return [(e.action, e.note) for e in work.tickets.get(ticket_id).history if e.action in actions]


def alerts(rasa, ticket_id):
    return [(c.conversation_id, c.entities["notice"]) for c in rasa.named("EXTERNAL_staff_notice")
            if c.entities.get("ticket_id") == ticket_id]


def test_a_dispatch_reaches_the_first_contact_on_duty_within_seconds_and_the_history_says_so(work, rasa):
    ticket = report(work)
    advance(work, seconds=1)
    assert notices(rasa, ticket.id) == ["sh-desk"]
    assert steps(work, ticket.id, "handler_notified") == [("handler_notified", "已通知首华物业（客服值班）")]
    advance(work, minutes=5)
    assert notices(rasa, ticket.id) == ["sh-desk"], "one notice per dispatch"


def test_not_signed_in_time_the_community_is_told_once(work, rasa):
    ticket = report(work)  # ordinary: 4 hours to sign
    advance(work, seconds=1)
    advance(work, hours=3, minutes=59)
    assert not alerts(rasa, ticket.id)
    advance(work, minutes=2)
    assert alerts(rasa, ticket.id) == [("wanliuxiyuan-office", "sign_overdue")]
    assert steps(work, ticket.id, "sign_for_overdue") == [("sign_for_overdue", "首华物业超过4小时未签收，已告知万柳西园社区")]
    advance(work, days=1)
    assert len(alerts(rasa, ticket.id)) == 1


def test_signing_moves_the_ticket_on_and_stops_the_alert_and_twice_is_once(work, rasa):
    ticket = report(work)
    advance(work, seconds=1)
    signed, first = handler_work.accept(work.tickets, ticket.id, "wecom", "sh-desk")
    again, second = handler_work.accept(work.tickets, ticket.id, "wecom", "sh-desk")
    assert (first, second, signed.status, again.status) == (True, False, "in_progress", "in_progress")
    assert steps(work, ticket.id, "accepted") == [("accepted", "首华物业已签收，签收人：客服值班")]
    assert first_response_at(work, ticket.id) == next(e.at for e in signed.history if e.action == "accepted")
    advance(work, hours=5)
    assert not alerts(rasa, ticket.id)
    with pytest.raises(handler_work.HandlerRefused, match="不在它的接单名单里"):
        handler_work.accept(work.tickets, ticket.id, "wecom", "dc-desk")
    with pytest.raises(UnknownTicket):
        handler_work.accept(work.tickets, "GD209901010001", "wecom", "sh-desk")


def test_a_failed_notice_is_counted_as_failed_and_the_next_contact_gets_it(work, rasa):
    rasa.fail = 1
    ticket = report(work)
    advance(work, seconds=1)
    assert notices(rasa, ticket.id) == ["9001"]
    assert steps(work, ticket.id, "handler_notice_failed", "handler_notified") == [
        ("handler_notice_failed", "通知首华物业（客服值班）失败：平台发送出错"),
        ("handler_notified", "已通知首华物业（工程部）")]
    records = {r.conversation_id: r.status for r in delivered(work.engine, f"dispatch:{ticket.id}:")}
    assert records == {"sh-desk": "failed", "9001": "sent"}
    _, digest = staff_notice(work.tickets, "digest", "Asia/Shanghai", as_of=(work.clock() + timedelta(hours=1)).isoformat())
    assert digest["failed_notices"] == f"\n派单通知没送到 1 次：{ticket.id}（请核对接单联系人）", "staff see it the next morning"


def test_nobody_reached_is_tried_again_later(work, rasa):
    rasa.fail = 2
    ticket = report(work)
    advance(work, seconds=1)
    assert notices(rasa, ticket.id) == []
    assert len(steps(work, ticket.id, "handler_notice_failed")) == 2
    advance(work, seconds=31)  # the scheduler's first retry
    assert notices(rasa, ticket.id) == ["sh-desk"]


def test_an_emergency_at_3am_reaches_the_night_contact_at_once_an_ordinary_one_waits(work, rasa):
    work.clock.set(beijing("2026-11-24 03:00"))
    emergency = report(work, category="elevator", description="电梯困人了", unit="1", building="3")
    ordinary = report(work, category="corridor_clutter", description="楼道堆满纸箱", unit="1", reporter_id="bob")
    advance(work, seconds=1)
    assert notices(rasa, emergency.id) == ["sh-night"]
    assert notices(rasa, ordinary.id) == []
    advance(work, minutes=16)  # emergencies: 15 minutes to sign, day or night
    assert alerts(rasa, emergency.id) == [("wanliuxiyuan-office", "sign_overdue")]
    work.clock.set(beijing("2026-11-24 08:00"))
    work.schedule.wait_idle()
    assert notices(rasa, ordinary.id) == ["sh-desk"]


def test_an_emergency_by_day_goes_to_the_desk_and_the_night_contact(work, rasa):
    ticket = report(work, category="elevator", description="电梯困人了", unit="1", building="3")
    advance(work, seconds=1)
    assert sorted(notices(rasa, ticket.id)) == ["sh-desk", "sh-night"]


def test_a_return_goes_to_the_community_is_counted_and_redispatched(work, rasa):
    ticket = report(work)
    advance(work, seconds=1)
    policy = handler_policy()
    with pytest.raises(handler_work.HandlerRefused, match="原因"):
        handler_work.hand_back(work.tickets, policy, ticket.id, "wecom", "sh-desk", "  ")
    with pytest.raises(handler_work.HandlerRefused):
        handler_work.hand_back(work.tickets, policy, ticket.id, "wecom", "xy-office", "不归我们")
    assert work.tickets.get(ticket.id).handler_name == "首华物业", "a refusal changes nothing"
    returned = handler_work.hand_back(work.tickets, policy, ticket.id, "wecom", "sh-desk", "这栋楼不归我们管")
    assert (returned.handler_kind, returned.handler_name) == ("community", "万柳西园社区")
    assert steps(work, ticket.id, "returned") == [
        ("returned", "首华物业（客服值班）退单：这栋楼不归我们管；转万柳西园社区重新派单（原承办首华物业）")]
    assert handler_work.returns_by_handler(work.engine) == {"首华物业": 1}
    with pytest.raises(handler_work.HandlerRefused, match="万柳西园社区承办"):
        handler_work.hand_back(work.tickets, policy, ticket.id, "wecom", "sh-desk", "再退一次")
    advance(work, seconds=1)
    assert notices(rasa, ticket.id) == ["sh-desk", "xy-office"]
    act(work.tickets, "assign", ticket.id, "staff:wang", "北京市电车公司")  # what `linli tickets assign` does
    advance(work, seconds=1)
    assert notices(rasa, ticket.id) == ["sh-desk", "xy-office", "dc-desk"]
    with pytest.raises(handler_work.HandlerRefused, match="北京市电车公司承办"):  # the community no longer holds it
        handler_work.hand_back(work.tickets, policy, ticket.id, "wecom", "xy-office", "不是我们")


def test_the_community_returning_a_ticket_sends_it_to_the_dispatch_centre(work):
    ticket = report(work, category="neighbor_dispute", description="楼上天天半夜吵架", unit="1")
    assert ticket.handler_name == "万柳西园社区"
    returned = handler_work.hand_back(work.tickets, handler_policy(), ticket.id, "wecom", "xy-office", "属于派出所")
    assert (returned.handler_kind, returned.handler_name) == ("department", "街道接诉即办中心")


def test_a_reassignment_before_the_notice_went_out_notifies_only_the_new_handler(work, rasa):
    ticket = report(work)
    act(work.tickets, "assign", ticket.id, "staff:wang", "北京市电车公司")
    advance(work, seconds=1)
    assert notices(rasa, ticket.id) == ["dc-desk"]


def test_interim_notes_reach_the_resident_in_the_policy_words(work, rasa):
    ticket = report(work)
    advance(work, seconds=1)
    handler_work.accept(work.tickets, ticket.id, "wecom", "sh-desk")
    handler_work.progress_note(work.tickets, handler_policy(), ticket.id, "wecom", "sh-desk", "waiting_parts")
    handler_work.progress_note(work.tickets, handler_policy(), ticket.id, "wecom", "sh-desk", "waiting_parts")
    with pytest.raises(handler_work.HandlerRefused):
        handler_work.progress_note(work.tickets, handler_policy(), ticket.id, "wecom", "sh-desk", "随便写的")
    advance(work, minutes=1)  # the sweep announces the steps
    news = [c.entities for c in rasa.named("EXTERNAL_ticket_update") if c.entities["ticket_id"] == ticket.id]
    assert [n["update"] for n in news] == ["accepted", "handler_progress"]
    assert news[1]["update_note"] == "维修需要的配件正在调货，到了马上修"


def test_a_handler_nobody_is_listed_for_is_no_dispatch_the_community_hears(work, rasa, handlers_file):
    ticket = report(work, category="illegal_building", description="楼顶有人搭彩钢房")
    advance(work, seconds=1)
    assert ticket.handler_name == "街道综合执法队" and notices(rasa, ticket.id) == []
    assert alerts(rasa, ticket.id) == [("wanliuxiyuan-office", "no_contact")]
    assert steps(work, ticket.id, "handler_notice_failed") == [
        ("handler_notice_failed", "通知街道综合执法队失败：接单名单里没有它的联系人，已告知社区")]


def test_the_handlers_file_is_read_again_when_it_changes_and_a_broken_one_is_refused(handlers_file):
    assert [c.id for c in contacts.contacts_for("首华物业")] == ["sh-desk", "9001", "sh-night"]
    listed = contacts.load_handlers(handlers_file)
    listed["首华物业"] = listed["首华物业"][:1]
    contacts.save_handlers(listed, handlers_file)
    assert [c.id for c in contacts.contacts_for("首华物业")] == ["sh-desk"]
    assert handlers_file.read_text(encoding="utf-8").startswith("# test handlers\n")
    broken = handlers_file.parent / "broken.yml"
    broken.write_text("handlers:\n- name: 首华物业\n  contacts:\n  - {channel: fax, id: x}\n", encoding="utf-8")
    with pytest.raises(contacts.HandlersFileError, match="fax"):
        contacts.load_handlers(broken)
    assert contacts.contacts_for("没有这个单位") == ()


def test_who_is_tried_by_day_and_by_night(handlers_file):
    people = contacts.contacts_for("首华物业")
    zone = ZoneInfo("Asia/Shanghai")
    day, night = beijing("2026-11-23 10:00"), beijing("2026-11-23 23:00")
    assert [([c.id for c in a], [c.id for c in b]) for a, b in (
        contacts.to_reach(people, day, zone, False), contacts.to_reach(people, night, zone, False),
        contacts.to_reach(people, day, zone, True), contacts.to_reach(people, night, zone, True))] == [
        (["sh-desk", "9001"], []), (["sh-desk", "9001"], []), (["sh-desk", "9001"], ["sh-night"]), ([], ["sh-night"])]
    assert timedelta(minutes=15) == handler_policy().sign_for_limit("emergency")


def test_an_extension_request_reaches_the_community_and_an_approval_moves_the_deadline(work, rasa):
    ticket = report(work)
    advance(work, seconds=1)
    policy = handler_policy()
    for days, reason, refusal in (("三十", "等配件", "1到15"), ("3", " ", "原因")):
        with pytest.raises(handler_work.HandlerRefused, match=refusal):
            handler_work.request_extension(work.tickets, policy, ticket.id, "wecom", "sh-desk", days, reason)
    with pytest.raises(handler_work.HandlerRefused):
        handler_work.request_extension(work.tickets, policy, ticket.id, "wecom", "dc-desk", "3", "等配件")
    request = handler_work.request_extension(work.tickets, policy, ticket.id, "wecom", "sh-desk", "三天", "防水材料要等厂家发货")
    with pytest.raises(handler_work.HandlerRefused, match="已经申请过延期"):
        handler_work.request_extension(work.tickets, policy, ticket.id, "wecom", "sh-desk", "2", "再等等")
    advance(work, seconds=1)
    [asked] = list(rasa.named("EXTERNAL_extension_request"))
    assert (asked.conversation_id, asked.entities) == ("wanliuxiyuan-office", {"extension_id": str(request.id),
                                                                               "ticket_id": ticket.id})
    before = work.tickets.get(ticket.id).deadline
    with pytest.raises(handler_work.HandlerRefused, match="自己单位的延期申请"):
        handler_work.decide_extension(work.tickets, request.id, True, "staff:wecom:sh-desk", decider=("wecom", "sh-desk"))
    approved = handler_work.decide_extension(work.tickets, request.id, True, "staff:wecom:wanliuxiyuan-office",
                                             decider=("wecom", "wanliuxiyuan-office"))
    assert approved.deadline == before + timedelta(days=3)
    with pytest.raises(handler_work.HandlerRefused, match="已经同意"):
        handler_work.decide_extension(work.tickets, request.id, False, "staff:wecom:wanliuxiyuan-office")
    assert steps(work, ticket.id, "extension_requested", "extension_approved") == [
        ("extension_requested", "首华物业（客服值班）申请延期3天：防水材料要等厂家发货"),
        ("extension_approved", f"同意首华物业延期3天，{approved.deadline.astimezone(ZoneInfo('Asia/Shanghai')).month}月"
                               f"{approved.deadline.astimezone(ZoneInfo('Asia/Shanghai')).day}日10:00前办结")]
    advance(work, minutes=1)  # the sweep watches the new deadline
    advance(work, days=7)
    due = [c for c in rasa.named("EXTERNAL_staff_notice") if c.entities == {"notice": "due_soon", "ticket_id": ticket.id}]
    assert not due, "no due-soon reminder against the old deadline"


def test_a_refused_extension_keeps_the_deadline(work):
    ticket = report(work)
    request = handler_work.request_extension(work.tickets, handler_policy(), ticket.id, "wecom", "sh-desk", "5", "人手不够")
    refused = handler_work.decide_extension(work.tickets, request.id, False, "staff:wecom:wanliuxiyuan-office")
    assert refused.deadline == ticket.deadline
    assert steps(work, ticket.id, "extension_refused") == [("extension_refused", "不同意首华物业延期：人手不够")]


def test_a_reopened_ticket_goes_back_to_its_handler_to_be_signed_again(work, rasa):
    ticket = report(work)
    advance(work, seconds=1)
    handler_work.accept(work.tickets, ticket.id, "wecom", "sh-desk")
    work.tickets.transition(ticket.id, "resolved", "staff:wang", "已修好")
    work.tickets.transition(ticket.id, "reopened", "staff:wang", "居民说还漏")
    advance(work, seconds=1)
    assert notices(rasa, ticket.id) == ["sh-desk", "sh-desk"]
    again, signed = handler_work.accept(work.tickets, ticket.id, "wecom", "sh-desk")
    assert signed and again.status == "in_progress"


def first_response_at(work, ticket_id: str):
    """Signing for a ticket (签收) is the handler's response: the response rate counts it."""
    with session_scope(work.tickets.engine) as session:
        at = session.execute(select(Ticket.first_response_at).where(Ticket.id == ticket_id)).scalar()
    return at.replace(tzinfo=at.tzinfo or timezone.utc)
