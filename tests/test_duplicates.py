"""Duplicate reports, followers and merging, on SQLite and PostgreSQL (store level)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.db import session_scope
from bot.models import Ticket, TicketEvent, TicketFollower
from bot.tickets import CannotMerge, DuplicatePolicy, NoLongerOpen, TicketStore, UnknownTicket, metres_between

#: Two points in 万柳西园 about 60 m apart, and one about 1 km away.
HERE, NEAR, FAR = (39.9612, 116.2981), (39.9617, 116.2984), (39.9700, 116.3040)


def report(store, **overrides):
    fields = {"category": "leak", "description": "屋顶漏水，下雨就滴", "reporter_channel": "rest",
              "reporter_id": "alice", "community": "万柳西园", "building": "5", "unit": "2", "room": "502",
              "phone": "13812345678", **overrides}
    return store.create(**fields)


def located(store, point, **overrides):
    return report(store, category="waterlogging", description="路口积水很深", community=None, building=None,
                  unit=None, room=None, phone=None, latitude=point[0], longitude=point[1], source="volunteer",
                  **overrides)


def dupes(store, sender="bob", **place):
    place = {"category": "leak", "community": "万柳西园社区", "building": "5", **place}
    return [t.id for t in store.find_duplicates(channel="rest", sender_id=sender, **place)]


def snapshot(engine):
    """Everything a refused merge must leave untouched."""
    with session_scope(engine) as session:
        tickets = session.execute(select(Ticket.id, Ticket.status, Ticket.merged_into, Ticket.tier,
                                         Ticket.updated_at).order_by(Ticket.id)).all()
        return (tickets, session.execute(select(func.count()).select_from(TicketEvent)).scalar(),
                session.execute(select(TicketFollower.ticket_id, TicketFollower.sender_id)
                                .order_by(TicketFollower.ticket_id, TicketFollower.sender_id)).all())


# -- finding duplicates ----------------------------------------------------------------------------

def test_found_by_building_but_not_across_categories_communities_or_for_the_reporter(store):
    leak = report(store)
    report(store, category="noise", description="楼上装修太吵", reporter_id="carol")
    report(store, community="望园社区", building="5", reporter_id="dora")
    assert dupes(store) == [leak.id]
    assert dupes(store, category="noise") != [leak.id]
    assert dupes(store, community="望园社区") != [leak.id]
    assert dupes(store, building="6") == []
    assert dupes(store, sender="alice") == [], "the reporter knows about their own ticket"


def test_not_found_when_too_old_closed_or_merged(store, clock):
    old = report(store)
    clock.advance(days=store.duplicates.within_days + 1)
    assert dupes(store) == []
    fresh = report(store, reporter_id="carol")
    assert dupes(store) == [fresh.id]
    store.transition(fresh.id, "resolved", "staff:wang")
    assert dupes(store) == []
    a, b = report(store, reporter_id="erin"), report(store, reporter_id="fay")
    store.merge(b.id, a.id, "staff:wang")
    assert dupes(store) == [a.id] and old.id not in dupes(store)


def test_found_by_distance_for_location_reports_nearest_first(store):
    far = located(store, FAR)
    here = located(store, HERE, reporter_id="carol")
    assert metres_between(HERE, NEAR) < store.duplicates.within_metres < metres_between(HERE, FAR)
    found = store.find_duplicates("waterlogging", "rest", "bob", latitude=NEAR[0], longitude=NEAR[1])
    assert [t.id for t in found] == [here.id]
    assert far.id in [t.id for t in store.find_duplicates("waterlogging", "rest", "bob", latitude=FAR[0],
                                                          longitude=FAR[1])]
    assert store.find_duplicates("leak", "rest", "bob", latitude=NEAR[0], longitude=NEAR[1]) == []


def test_policy_comes_from_service_yml_and_is_checked(tmp_path):
    path = tmp_path / "service.yml"
    path.write_text("duplicates: {within_days: 7, within_metres: 80, followers_to_escalate: 2}\n", encoding="utf-8")
    assert DuplicatePolicy.load(path) == DuplicatePolicy(7, 80, 2)
    path.write_text("duplicates: {within_days: 0, within_metres: 80, followers_to_escalate: 2}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="duplicates"):
        DuplicatePolicy.load(path)
    path.write_text("categories: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="duplicates"):
        DuplicatePolicy.load(path)


# -- following -------------------------------------------------------------------------------------

def test_a_follower_reads_the_ticket_is_counted_and_enough_of_them_raise_the_tier(engine, clock):
    store = TicketStore(engine=engine, clock=clock, duplicates=DuplicatePolicy(14, 150, 2))
    ticket = report(store)
    assert ticket.tier == "community" and ticket.followers == 0
    once = store.follow(ticket.id, "rest", "bob")
    clock.advance(minutes=1)
    assert once.followers == 1 and once.tier == "community"
    assert once.history[-1].action == "followed" and "共2人反映" in once.history[-1].note
    assert store.get_for_reporter(ticket.id, "rest", "bob").id == ticket.id
    assert store.follow(ticket.id, "rest", "bob").followers == 1, "following twice counts once"
    assert store.follow(ticket.id, "rest", "alice").followers == 1, "the reporter is no follower"
    twice = store.follow(ticket.id, "wechat", "carol")
    clock.advance(minutes=1)
    assert twice.followers == 2 and twice.tier == "street"
    assert [e.action for e in twice.history[-2:]] == ["followed", "escalated"]
    assert "3位居民反映同一问题" in twice.history[-1].note
    assert store.follow(ticket.id, "rest", "dan").tier == "street"
    assert [e.action for e in store.get(ticket.id).history].count("escalated") == 1
    assert store.followers(ticket.id) == [("rest", "bob"), ("wechat", "carol"), ("rest", "dan")]


def test_following_a_merged_ticket_follows_where_it_went_and_a_closed_one_is_refused(store):
    target, source = report(store), report(store, reporter_id="carol")
    store.merge(source.id, target.id, "staff:wang")
    assert store.follow(source.id, "rest", "bob").id == target.id
    store.transition(target.id, "resolved", "staff:wang")
    with pytest.raises(NoLongerOpen) as error:
        store.follow(target.id, "rest", "erin")
    assert "单独登记" in error.value.user_message
    with pytest.raises(UnknownTicket):
        store.follow("GD209901010001", "rest", "erin")


def test_the_latest_ticket_of_a_follower_is_the_one_they_followed(store, clock):
    own = report(store, reporter_id="bob", category="noise", description="楼上太吵")
    clock.advance(minutes=5)
    ticket = report(store)
    store.follow(ticket.id, "rest", "bob")
    assert store.latest_for_reporter("rest", "bob").id == ticket.id
    clock.advance(minutes=5)
    newer = report(store, reporter_id="bob", category="noise", description="还是吵")
    assert store.latest_for_reporter("rest", "bob").id == newer.id
    assert own.id != newer.id


# -- merging ---------------------------------------------------------------------------------------

def test_merge_closes_the_source_and_moves_reporter_and_followers(store, clock):
    target, source = report(store), report(store, reporter_id="carol", phone=None)
    store.follow(source.id, "rest", "bob")
    store.follow(source.id, "rest", "dan")
    store.follow(target.id, "rest", "dan")
    clock.advance(minutes=1)
    merged = store.merge(source.id.lower(), target.id, "staff:wang")
    assert merged.id == target.id and merged.followers == 3
    assert store.followers(target.id) == [("rest", "dan"), ("rest", "bob"), ("rest", "carol")]
    assert store.followers(source.id) == []
    closed = store.get(source.id)
    assert (closed.status, closed.merged_into) == ("closed", target.id)
    last = closed.history[-1]
    assert (last.action, last.from_status, last.to_status, last.actor) == ("merged", "dispatched", "closed", "staff:wang")
    assert target.id in last.note
    assert merged.history[-1].action in ("merge_received", "escalated")
    received = next(e for e in merged.history if e.action == "merge_received")
    assert source.id in received.note and "共4人反映" in received.note
    assert store.get_for_reporter(target.id, "rest", "carol").id == target.id


@pytest.mark.parametrize("case", ["itself", "closed target", "merged target", "merged source", "closed source",
                                  "unknown source", "unknown target", "malformed"])
def test_merge_refusals_change_nothing(store, engine, case):
    a, b, c = report(store), report(store, reporter_id="carol"), report(store, reporter_id="dan")
    store.follow(b.id, "rest", "bob")
    store.merge(c.id, a.id, "staff:wang")  # c is merged
    closed = report(store, reporter_id="erin")
    store.transition(closed.id, "resolved", "staff:wang")
    store.transition(closed.id, "closed", "staff:wang")
    source, target, error = {
        "itself": (b.id, b.id, CannotMerge), "closed target": (b.id, closed.id, CannotMerge),
        "merged target": (b.id, c.id, CannotMerge), "merged source": (c.id, b.id, CannotMerge),
        "closed source": (closed.id, b.id, CannotMerge), "unknown source": ("GD209901010001", b.id, UnknownTicket),
        "unknown target": (b.id, "GD209901010001", UnknownTicket), "malformed": (b.id, "工单", UnknownTicket),
    }[case]
    before = snapshot(engine)
    with pytest.raises(error) as raised:
        store.merge(source, target, "staff:wang")
    assert raised.value.user_message and "工单" in raised.value.user_message
    assert snapshot(engine) == before


def test_merge_refused_without_an_actor(store, engine):
    a, b = report(store), report(store, reporter_id="carol")
    before = snapshot(engine)
    with pytest.raises(Exception) as raised:
        store.merge(b.id, a.id, " ")
    assert "谁" in raised.value.user_message and snapshot(engine) == before


def test_merge_raises_the_tier_when_the_followers_reach_the_threshold(engine, clock):
    store = TicketStore(engine=engine, clock=clock, duplicates=DuplicatePolicy(14, 150, 2))
    target, source = report(store), report(store, reporter_id="carol")
    store.follow(source.id, "rest", "bob")
    assert store.merge(source.id, target.id, "staff:wang").tier == "street"
