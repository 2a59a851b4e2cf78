"""The ticket store on SQLite and PostgreSQL: ids, dispatch on create, the state machine, privacy."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import func, select

from bot.callbacks import store as callbacks
from bot.callbacks.models import CallbackRequest
from bot.config.directory import Directory
from bot.core.db import session_scope
from bot.core.settings import PACKAGE_DATA
from bot.core.text import find_ticket_id, format_ticket_id, local_time, parse_phone, parse_ticket_id
from bot.privacy.masks import mask_phone, mask_room, mask_text
from bot.tickets.errors import IllegalTransition, NotAllowed, TicketError, UnknownTicket
from bot.tickets.models import Ticket, TicketEvent, TicketFollower
from bot.tickets.status import TRANSITIONS, TicketStatus
from bot.tickets.store import TicketStore

BEIJING = ZoneInfo("Asia/Shanghai")


def report(store, **overrides):
    fields = {"category": "leak", "description": "屋顶漏水，下雨就滴", "reporter_channel": "rest",
              "reporter_id": "alice", "community": "万柳西园", "building": "5", "unit": "2", "room": "502",
              "phone": "13812345678", **overrides}
    return store.create(**fields)


def count(engine, model):
    with session_scope(engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar()


def at_beijing(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=BEIJING).astimezone(timezone.utc)


# -- ids -----------------------------------------------------------------------------------------

def test_ids_follow_the_local_day_and_a_daily_sequence(store, clock):
    first, second = report(store), report(store)
    assert (first.id, second.id) == ("GD202611220001", "GD202611220002")
    clock.set(datetime(2026, 11, 22, 16, 30, tzinfo=timezone.utc))  # 00:30 on the 23rd in Beijing
    assert report(store).id == "GD202611230001"


def test_a_create_that_fails_midway_writes_nothing_and_uses_up_no_number(store, engine):
    report(store)
    broken = TicketStore(engine=engine, clock=store.clock, directory=Directory.load(PACKAGE_DATA / "directory.yml"))
    del broken.directory.service.tiers["community"]  # the history note fails, after the number is drawn
    with pytest.raises(KeyError):
        report(broken)
    assert count(engine, Ticket) == 1 and count(engine, TicketEvent) == 2
    assert report(store).id == "GD202611220002"


def test_ticket_id_format_and_parsing():
    assert format_ticket_id("20261122", 7) == "GD202611220007"
    assert parse_ticket_id(" gd202611220007 ") == "GD202611220007"
    assert parse_ticket_id("GD 2026 1122 0007") == "GD202611220007"
    for malformed in ("GD2026112200", "GD2026112200071", "XX202611220007", "GD20261122000A", "", None, "工单"):
        assert parse_ticket_id(malformed) is None
    assert find_ticket_id("查一下gd 202611220007好吗") == "GD202611220007"
    for without in ("gd2026112200071", "xgd202611220007", "", None):
        assert find_ticket_id(without) is None


def test_one_local_time_format_for_every_reader(store):
    """Deadlines read the same from the store's history notes, staff ticket cards and the actions."""
    from actions.common import local_time as actions_local_time
    from bot.staff.tickets import _local

    moment = datetime(2026, 12, 2, 6, 30, tzinfo=timezone.utc)
    assert local_time(moment, "Asia/Shanghai") == "12月2日14:30"
    assert store._local(moment) == _local(store, moment) == actions_local_time(moment) == "12月2日14:30"
    assert _local(store, None) == "-"


# -- creating and dispatching --------------------------------------------------------------------

def test_create_dispatches_and_records_history(store):
    ticket = report(store, description="  屋顶漏水，下雨就滴\n")
    assert ticket.community == "万柳西园社区" and ticket.status == "dispatched"
    assert ticket.description == "屋顶漏水，下雨就滴"
    assert (ticket.handler_kind, ticket.handler_name, ticket.tier) == ("property_company", "首华物业", "community")
    assert ticket.deadline - ticket.created_at == timedelta(days=7)
    assert ticket.created_at.tzinfo is not None and ticket.deadline.tzinfo is not None
    assert [(e.action, e.from_status, e.to_status) for e in ticket.history] == [
        ("created", None, "new"), ("dispatched", "new", "dispatched")]
    assert ticket.history[0].actor == "rest:alice" and "首华物业" in ticket.history[1].note
    assert ticket.masked_phone == "138****5678" and ticket.masked_room == "5**"


def test_all_fields_are_kept(store):
    ticket = report(store, source="volunteer", photos=["photo/1.jpg", "photo/2.jpg"], latitude=39.96,
                    longitude=116.29, phone="+86 138-1234-5678", actor="rider:7")
    assert (ticket.source, ticket.photos, ticket.latitude, ticket.longitude) == (
        "volunteer", ("photo/1.jpg", "photo/2.jpg"), 39.96, 116.29)
    assert ticket.phone == "13812345678" and ticket.history[0].actor == "rider:7"
    assert ticket.merged_into is None and (ticket.unit, ticket.room) == ("2", "502")


@pytest.mark.parametrize("community, building, category, kind, name", [
    ("万柳西园社区", "5", "leak", "property_company", "首华物业"),
    ("万柳西园社区", "9", "leak", "community", "万柳西园社区"),
    ("万柳西园社区", "7", "leak", "owner_unit", "北京市电车公司"),
    ("望园社区", "2", "elevator", "property_company", "金管家物业"),
    ("望园社区", "6", "corridor_clutter", "community", "望园社区"),
    ("望园社区", "2", "illegal_building", "department", "街道综合执法队"),
])
def test_dispatch_by_category_and_building(store, community, building, category, kind, name):
    ticket = report(store, community=community, building=building, category=category)
    assert (ticket.handler_kind, ticket.handler_name) == (kind, name)


def test_urgent_words_make_a_two_hour_deadline(store):
    ticket = report(store, category="elevator", description="电梯困人了！快来")
    assert ticket.deadline_class == "emergency" and ticket.deadline - ticket.created_at == timedelta(hours=2)


def test_the_only_community_of_a_street_is_assumed(engine, clock, tmp_path):
    raw = yaml.safe_load((PACKAGE_DATA / "directory.yml").read_text(encoding="utf-8"))
    raw["communities"] = raw["communities"][1:]
    (tmp_path / "one.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    store = TicketStore(engine=engine, clock=clock, directory=Directory.load(tmp_path / "one.yml"))
    ticket = report(store, community=None, building="6", category="corridor_clutter")
    assert (ticket.community, ticket.handler_name) == ("望园社区", "望园社区")


@pytest.mark.parametrize("overrides", [
    {"category": "weather"}, {"description": "   "}, {"description": None}, {"description": "长" * 2001},
    {"community": "不存在社区"}, {"building": "99"}, {"community": None, "building": "5"},
    {"phone": "12345"}, {"phone": "12812345678"}, {"phone": "138123456789"},
    {"unit": "二"}, {"room": "5O2"}, {"room": "1234567"},
    {"latitude": 39.9}, {"latitude": 91, "longitude": 116}, {"photos": ["ok.jpg", " "]},
    {"photos": [f"{i}.jpg" for i in range(10)]},
    {"reporter_id": " "}, {"reporter_channel": ""}, {"reporter_id": "x" * 65}, {"source": "robot"},
])
def test_invalid_reports_write_nothing(store, engine, overrides):
    with pytest.raises(TicketError) as error:
        report(store, **overrides)
    assert error.value.user_message
    assert count(engine, Ticket) == 0 and count(engine, TicketEvent) == 0


def test_the_longest_allowed_description_is_kept_verbatim(store):
    words = "楼上漏水 🙏 " * 250
    assert report(store, description=words[:2000]).description == words[:2000].strip()


# -- the state machine ---------------------------------------------------------------------------

PATHS = {  # how a freshly dispatched ticket reaches each status
    "dispatched": [], "in_progress": ["in_progress"], "resolved": ["resolved"],
    "closed": ["resolved", "closed"], "reopened": ["resolved", "reopened"],
}


def test_every_transition_is_allowed_exactly_when_the_table_says(store):
    for start, path in PATHS.items():
        for wanted in TicketStatus:
            ticket = report(store)
            for status in path:
                store.transition(ticket.id, status, "staff:wang")
            before = store.get(ticket.id)
            if wanted in TRANSITIONS[TicketStatus(start)]:
                after = store.transition(ticket.id, wanted.value, "staff:wang")
                assert after.status == wanted.value
                assert (after.history[-1].from_status, after.history[-1].to_status) == (start, wanted.value)
            else:
                with pytest.raises(IllegalTransition) as error:
                    store.transition(ticket.id, wanted.value, "staff:wang")
                assert "不能改成" in error.value.user_message
                assert store.get(ticket.id) == before, f"{start} -> {wanted.value} changed the ticket"


def test_legal_transitions_and_history(store, clock):
    ticket = report(store)
    store.transition(ticket.id, "in_progress", "staff:wang")
    clock.advance(hours=3)
    store.transition(ticket.id, "resolved", "staff:wang", "已更换防水层")
    store.transition(ticket.id, "reopened", "rest:alice", "还漏")
    done = store.transition(ticket.id, "resolved", "staff:wang")
    closed = store.transition(done.id.lower(), "closed", "linli")
    assert closed.status == "closed"
    assert [(e.from_status, e.to_status) for e in closed.history[2:]] == [
        ("dispatched", "in_progress"), ("in_progress", "resolved"), ("resolved", "reopened"),
        ("reopened", "resolved"), ("resolved", "closed")]
    resolved = closed.history[3]
    assert (resolved.note, resolved.actor, resolved.at) == ("已更换防水层", "staff:wang", ticket.created_at + timedelta(hours=3))
    assert closed.updated_at == ticket.created_at + timedelta(hours=3)


def test_reopening_restarts_the_deadline(store, clock):
    ticket = report(store, category="elevator", unit="1")
    store.transition(ticket.id, "resolved", "staff:wang")
    clock.advance(hours=30)
    reopened = store.transition(ticket.id, "reopened", "rest:alice", "电梯还是坏的", action="followup_failed")
    assert reopened.deadline == clock() + timedelta(hours=24)
    assert reopened.history[-1].action == "followup_failed" and "重新计时" in reopened.history[-1].note


def test_unknown_ticket_and_status(store):
    with pytest.raises(UnknownTicket):
        store.transition("GD209901010001", "resolved", "staff")
    with pytest.raises(UnknownTicket):
        store.add_note("not an id", "staff", "备注")
    ticket = report(store)
    with pytest.raises(TicketError) as error:
        store.transition(ticket.id, "finished", "staff")
    assert "finished" in error.value.user_message
    with pytest.raises(TicketError):
        store.transition(ticket.id, "resolved", " ")
    assert store.get(ticket.id).status == "dispatched"


def test_history_is_append_only(store, engine):
    ticket = report(store)
    with pytest.raises(ValueError), session_scope(engine) as session:
        session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).scalars().first().note = "改写"
    with pytest.raises(ValueError), session_scope(engine) as session:
        session.delete(session.execute(select(TicketEvent)).scalars().first())
    assert store.get(ticket.id).history == ticket.history


# -- who may read what ---------------------------------------------------------------------------

def test_a_resident_sees_only_their_own_tickets(store, engine):
    ticket = report(store)
    assert store.get_for_reporter(ticket.id.lower(), "rest", "alice").id == ticket.id
    with pytest.raises(NotAllowed) as error:
        store.get_for_reporter(ticket.id, "rest", "bob")
    assert "不是您提交的" in error.value.user_message
    with pytest.raises(NotAllowed):
        store.get_for_reporter(ticket.id, "wechat", "alice")
    with pytest.raises(UnknownTicket) as error:
        store.get_for_reporter("GD209901010001", "rest", "alice")
    assert "GD209901010001" in error.value.user_message
    with pytest.raises(UnknownTicket):
        store.get_for_reporter("x" * 10_000, "rest", "alice")
    with session_scope(engine) as session:
        session.add(TicketFollower(ticket_id=ticket.id, channel="rest", sender_id="bob"))
    assert store.get_for_reporter(ticket.id, "rest", "bob").id == ticket.id


def test_latest_list_overdue_and_duplicates(store, clock):
    older = report(store, category="elevator", unit="1", description="电梯坏了")
    clock.advance(minutes=5)
    newer = report(store)
    other = report(store, reporter_id="carol", community="望园社区", building="6", category="noise")
    assert store.latest_for_reporter("rest", "alice").id == newer.id
    assert store.latest_for_reporter("rest", "nobody") is None
    clock.advance(days=2)
    assert [t.id for t in store.list(overdue=True)] == [older.id]
    assert [t.id for t in store.list(overdue=False)] == [other.id, newer.id]
    assert older.is_overdue(clock()) and not newer.is_overdue(clock())
    assert [t.id for t in store.list(community="西园")] == [newer.id, older.id]
    assert [t.id for t in store.list(status="dispatched", limit=1)] == [other.id]
    with pytest.raises(TicketError):
        store.list(status="done")
    assert [t.id for t in store.open_for_building("leak", "万柳西园", "5", 7)] == [newer.id]
    store.transition(newer.id, "resolved", "staff:wang")
    assert store.open_for_building("leak", "万柳西园社区", "5", 7) == []
    assert not store.get(newer.id).is_overdue(clock() + timedelta(days=30))


def test_notes_assignment_and_escalation_are_history(store):
    ticket = report(store)
    store.add_note(ticket.id, "staff:wang", "已联系物业")
    moved = store.assign(ticket.id, "community", "万柳西园社区", "staff:wang")
    assert (moved.handler_kind, moved.handler_name) == ("community", "万柳西园社区")
    up = store.escalate(ticket.id, "linli", "超过办理时限未办结")
    top = store.escalate(ticket.id, "linli", "仍未办结")
    assert (up.tier, top.tier) == ("street", "street")
    assert [e.action for e in top.history][2:] == ["note", "assigned", "escalated", "escalated"]
    assert all(e.from_status == e.to_status == "dispatched" for e in top.history[2:])
    assert top.history[3].note == "首华物业 → 万柳西园社区" and "难点街道办" in top.history[4].note
    for bad in (lambda: store.add_note(ticket.id, "staff", "  "),
                lambda: store.assign(ticket.id, "friend", "老王", "staff"),
                lambda: store.assign(ticket.id, "community", " ", "staff")):
        with pytest.raises(TicketError):
            bad()
    assert store.get(ticket.id).history == top.history


def first_response(engine, ticket_id: str):
    with session_scope(engine) as session:
        return session.execute(select(Ticket.first_response_at).where(Ticket.id == ticket_id)).scalar()


def test_the_first_response_is_kept_on_the_ticket_and_never_moved(store, engine, clock):
    """The response rate reads ``first_response_at``: the first step that is a response sets it, in
    the same transaction; Linli's steps, the reporter's and non-staff notes are none, later ones change nothing."""
    ticket = report(store)
    store.add_note(ticket.id, "rest:alice", "还没人来")
    store.add_note(ticket.id, "wecom:zhang", "明天去看")
    store.escalate(ticket.id, "linli", "超过响应时限")
    assert first_response(engine, ticket.id) is None
    clock.advance(hours=2)
    store.add_note(ticket.id, "staff:wang", "已联系物业")
    clock.advance(hours=3)
    store.transition(ticket.id, "in_progress", "wecom:zhang")
    assert first_response(engine, ticket.id) == ticket.created_at + timedelta(hours=2)

    own = report(store, reporter_id="bob")
    store.transition(own.id, "resolved", "rest:bob")  # the reporter's "fixed it myself"
    assert first_response(engine, own.id) is None
    store.transition(own.id, "reopened", "rest:bob")
    store.transition(own.id, "in_progress", "wecom:zhang")
    assert first_response(engine, own.id) == clock()


# -- call-backs ----------------------------------------------------------------------------------

def test_callback_request_is_recorded_with_its_expectation(store, engine, clock):
    clock.set(at_beijing("2026-11-23 10:00"))
    request, new = callbacks.request(store, "rest", "alice", phone="138 1234 5678", preferred_time="下午",
                                     note="想找人当面说")
    assert new and (request.phone, request.note, request.status, request.preferred_time) == (
        "13812345678", "想找人当面说", "open", "下午")
    assert request.expected_by == at_beijing("2026-11-23 12:00") and request.created_at == clock()
    assert [step.action for step in request.history] == ["requested"]
    with pytest.raises(TicketError):
        callbacks.request(store, "rest", "bob", phone="110")
    assert count(engine, CallbackRequest) == 1


def test_one_open_callback_per_resident_and_done_once(store, engine, clock):
    ticket = store.create(category="leak", description="屋顶漏水", reporter_channel="rest", reporter_id="carol",
                          community="望园社区", building="5", unit="1", room="501")
    first, _ = callbacks.request(store, "rest", "carol", phone="13812345678")
    again = [callbacks.request(store, "rest", "carol", phone="13900001111") for _ in range(2)]
    assert [(view.id, new) for view, new in again] == [(first.id, False)] * 2, "asking again writes nothing"
    assert count(engine, CallbackRequest) == 1 and first.ticket_id == ticket.id and first.community == "望园社区"
    with pytest.raises(callbacks.CallbackError, match="不在您负责的社区"):
        callbacks.mark_done(store, first.id, "staff:wecom:xiyuan", communities=("万柳西园社区",))
    done = callbacks.mark_done(store, f"#{first.id}", "staff:wecom:wang", "约好明天上门")
    assert (done.status, done.done_by, done.done_note) == ("done", "staff:wecom:wang", "约好明天上门")
    with pytest.raises(callbacks.CallbackError, match="已经标记为已回电"):
        callbacks.mark_done(store, first.id, "staff:wecom:wang")
    assert [e.action for e in store.get(ticket.id).history][-2:] == ["callback_requested", "callback_done"]
    second, new = callbacks.request(store, "rest", "carol")
    assert new and second.id != first.id and second.phone is None, "once done, a new request may follow"
    assert callbacks.phone_on_file(store, "rest", "carol") == "13812345678"


# -- masks ---------------------------------------------------------------------------------------

def test_masks_and_phone_parsing():
    assert mask_phone("13812345678") == "138****5678" and mask_room("1101") == "1***"
    assert mask_phone(None) is None and mask_room(None) is None
    assert parse_phone("+86 138-1234-5678") == parse_phone("008613812345678") == "13812345678"
    assert parse_phone("12345678901") is None and parse_phone("") is None


def test_free_text_is_masked_before_it_is_echoed():
    assert mask_text("5号楼2单元502漏水，电话138 1234 5678") == "5号楼2单元5**漏水，电话138****5678"
