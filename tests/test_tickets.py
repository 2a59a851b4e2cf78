"""The ticket store on SQLite and PostgreSQL: ids, dispatch on create, the state machine, privacy."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.db import session_scope
from bot.models import Ticket, TicketEvent
from bot.tickets import (IllegalTransition, NotAllowed, TicketError, TicketStore, UnknownTicket, mask_phone,
                         mask_room, parse_ticket_id)

NOON_BEIJING = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now=NOON_BEIJING):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(engine, clock):
    return TicketStore(engine=engine, clock=clock)


def report(store, **overrides):
    fields = {"category": "leak", "description": "屋顶漏水，下雨就滴", "reporter_channel": "rest",
              "reporter_id": "alice", "community": "万柳西园", "building": "5", "unit": "2", "room": "502",
              "phone": "13812345678", **overrides}
    return store.create(**fields)


def count(engine, model):
    with session_scope(engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar()


def test_ids_follow_the_local_day_and_a_daily_sequence(store, clock):
    first, second = report(store), report(store)
    assert (first.id, second.id) == ("GD202611220001", "GD202611220002")
    clock.now = datetime(2026, 11, 22, 16, 30, tzinfo=timezone.utc)  # 00:30 on the 23rd in Beijing
    assert report(store).id == "GD202611230001"


def test_ids_are_unique_under_concurrency(engine, clock):
    store = TicketStore(engine=engine, clock=clock)
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda i: report(store, reporter_id=f"r{i}").id, range(200)))
    assert len(set(ids)) == 200
    assert sorted(int(i[-4:]) for i in ids) == list(range(1, 201))


def test_create_dispatches_and_records_history(store):
    ticket = report(store)
    assert ticket.community == "万柳西园社区" and ticket.status == "dispatched"
    assert (ticket.handler_kind, ticket.handler_name, ticket.tier) == ("property_company", "首华物业", "community")
    assert ticket.deadline - ticket.created_at == timedelta(days=7)
    assert [e.action for e in ticket.history] == ["created", "dispatched"]
    assert ticket.masked_phone == "138****5678" and ticket.masked_room == "5**"


@pytest.mark.parametrize("community, building, category, kind, name", [
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


@pytest.mark.parametrize("overrides", [
    {"category": "weather"}, {"description": "   "}, {"description": "长" * 2001},
    {"community": "不存在社区"}, {"building": "99"}, {"phone": "12345"}, {"unit": "二"},
])
def test_invalid_reports_write_nothing(store, engine, overrides):
    with pytest.raises(TicketError) as error:
        report(store, **overrides)
    assert error.value.user_message
    assert count(engine, Ticket) == 0 and count(engine, TicketEvent) == 0


def test_legal_transitions_and_history(store, clock):
    ticket = report(store)
    store.transition(ticket.id, "in_progress", "staff:wang")
    clock.now += timedelta(hours=3)
    store.transition(ticket.id, "resolved", "staff:wang", "已更换防水层")
    store.transition(ticket.id, "reopened", "resident:alice", "还漏")
    done = store.transition(ticket.id, "resolved", "staff:wang")
    closed = store.transition(done.id, "closed", "linli")
    assert closed.status == "closed"
    assert [(e.from_status, e.to_status) for e in closed.history[2:]] == [
        ("dispatched", "in_progress"), ("in_progress", "resolved"), ("resolved", "reopened"),
        ("reopened", "resolved"), ("resolved", "closed")]
    assert closed.history[3].note == "已更换防水层" and closed.history[3].actor == "staff:wang"


@pytest.mark.parametrize("path", [["closed"], ["in_progress", "dispatched"], ["reopened"], ["new"]])
def test_illegal_transitions_change_nothing(store, path):
    ticket = report(store)
    for status in path[:-1]:
        store.transition(ticket.id, status, "staff")
    before = store.get(ticket.id)
    with pytest.raises(IllegalTransition) as error:
        store.transition(ticket.id, path[-1], "staff")
    assert "不能改成" in error.value.user_message
    assert store.get(ticket.id) == before


def test_unknown_ticket_and_status(store):
    with pytest.raises(UnknownTicket):
        store.transition("GD209901010001", "resolved", "staff")
    ticket = report(store)
    with pytest.raises(TicketError):
        store.transition(ticket.id, "finished", "staff")


def test_a_resident_sees_only_their_own_tickets(store):
    ticket = report(store)
    assert store.get_for_reporter(ticket.id, "rest", "alice").id == ticket.id
    with pytest.raises(NotAllowed):
        store.get_for_reporter(ticket.id, "rest", "bob")
    with pytest.raises(NotAllowed):
        store.get_for_reporter(ticket.id, "wechat", "alice")
    with pytest.raises(UnknownTicket):
        store.get_for_reporter("GD209901010001", "rest", "alice")


def test_latest_list_overdue_and_duplicates(store, clock):
    older = report(store, category="elevator", unit="1", description="电梯坏了")
    clock.now += timedelta(minutes=5)
    newer = report(store)
    assert store.latest_for_reporter("rest", "alice").id == newer.id
    assert store.latest_for_reporter("rest", "nobody") is None
    clock.now += timedelta(days=2)
    assert [t.id for t in store.list(overdue=True)] == [older.id]
    assert [t.id for t in store.list(community="西园")] == [newer.id, older.id]
    assert [t.id for t in store.open_for_building("leak", "万柳西园社区", "5", 7)] == [newer.id]


def test_notes_and_assignment_are_history(store):
    ticket = report(store)
    store.add_note(ticket.id, "staff:wang", "已联系物业")
    moved = store.assign(ticket.id, "community", "万柳西园社区", "staff:wang")
    assert moved.handler_name == "万柳西园社区"
    assert [e.action for e in moved.history][-2:] == ["note", "assigned"]
    with pytest.raises(TicketError):
        store.add_note(ticket.id, "staff", "  ")


@pytest.mark.parametrize("local, expected", [
    ("2026-11-23 10:00", "2026-11-23 12:00"),   # working hours: two hours later
    ("2026-11-23 16:45", "2026-11-23 17:30"),   # capped at closing time
    ("2026-11-23 20:00", "2026-11-24 10:00"),   # evening: next morning
    ("2026-11-23 06:00", "2026-11-23 10:00"),   # early morning: the same morning
])
def test_callback_expectation(store, clock, local, expected):
    from zoneinfo import ZoneInfo

    beijing = ZoneInfo("Asia/Shanghai")
    clock.now = datetime.fromisoformat(local).replace(tzinfo=beijing).astimezone(timezone.utc)
    request = store.request_callback("rest", "alice", phone="13812345678")
    assert request.expected_by.astimezone(beijing).strftime("%Y-%m-%d %H:%M") == expected


def test_ticket_id_parsing_and_masks():
    assert parse_ticket_id(" gd202611220007 ") == "GD202611220007"
    assert parse_ticket_id("GD2026112200") is None and parse_ticket_id("") is None
    assert mask_phone("13812345678") == "138****5678" and mask_room("1101") == "1***"


def test_free_text_is_masked_before_it_is_echoed():
    from bot.tickets import mask_text

    assert mask_text("5号楼2单元502漏水，电话138 1234 5678") == "5号楼2单元5**漏水，电话138****5678"
