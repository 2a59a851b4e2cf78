"""Duplicate reports, followers and merging, on SQLite and PostgreSQL (store level)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.config.service import DuplicatePolicy
from bot.core.db import session_scope
from bot.tickets.duplicates import metres_between
from bot.tickets.errors import AlreadyMerged, CannotMerge, NoLongerOpen, UnknownTicket
from bot.tickets.models import Ticket, TicketEvent, TicketFollower
from bot.tickets.store import TicketStore
from tests.stack import ticket_id_in

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


def test_a_crowd_of_followers_leaves_milestones_in_the_history_not_one_step_each(store):
    ticket = report(store)
    for number in range(11):
        store.follow(ticket.id, "rest", f"neighbour-{number}")
    notes = [e.note for e in store.get(ticket.id).history if e.action == "followed"]
    assert notes == [f"又有居民反映同一问题，共{n}人反映" for n in (2, 3, 5, 10)]
    assert store.get(ticket.id).followers == 11


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
    # dan followed before (1 follower); carol and bob join: 3 followers reach service.yml's
    # followers_to_escalate (3), so the merge is received and then the ticket climbs a tier.
    assert store.duplicates.followers_to_escalate == 3
    received, escalated = merged.history[-2:]
    assert (received.action, escalated.action) == ("merge_received", "escalated")
    assert source.id in received.note and "共4人反映" in received.note
    assert "4位居民反映同一问题" in escalated.note and merged.tier != target.tier
    assert store.get_for_reporter(target.id, "rest", "carol").id == target.id
    with pytest.raises(AlreadyMerged) as error:
        store.transition(source.id, "reopened", "staff:wang")
    assert target.id in error.value.user_message and store.get(source.id).status == "closed"


def test_linli_tickets_merge(tmp_path, monkeypatch, capsys):
    from bot.cli.main import main
    from bot.core.db import get_engine, init_db

    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LINLI_VAR_DIR", str(tmp_path))
    init_db()
    store = TicketStore(engine=get_engine())
    target, source = report(store), report(store, reporter_id="carol")
    assert main(["tickets", "merge", source.id, target.id, "--actor", "staff:wang"]) == 0
    assert "merge_received" in capsys.readouterr().out and store.get(source.id).merged_into == target.id
    assert main(["tickets", "merge", target.id, target.id]) == 1
    assert "不能合并到它自己" in capsys.readouterr().err
    assert main(["tickets", "merge", target.id, "GD209901010001"]) == 1
    assert "没有找到工单" in capsys.readouterr().err


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


# -- the complaint form and its submission (rasa-sdk trackers, no Rasa server) -------------------------

FORM_DOMAIN = {"forms": {"report_form": {"required_slots": [
    "category", "use_profile", "community", "building", "same_problem", "unit", "room", "photos", "location",
    "phone", "report_confirmed"]}}, "slots": {}, "responses": {}}
LEAK = {"category": {"name": "leak", "confidence": 0.95}}


@pytest.fixture
def actions_db(tmp_path, monkeypatch):
    """The action server's store, profiles and people on a fresh SQLite database."""
    from actions import common
    from bot.core.db import get_engine, init_db

    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite:///{tmp_path / 'actions.db'}")
    common.store.cache_clear()
    init_db()
    yield get_engine()
    common.store.cache_clear()


def form_turn(text, intent="report_issue", slots=None, candidates=(), entities=(), sender="bob", metadata=None,
              extra=LEAK, active=False):
    """One turn of validate_report_form: ``candidates`` are the slots Rasa hands in for validation."""
    import asyncio

    from rasa_sdk.executor import CollectingDispatcher

    from actions.report import ValidateReportForm
    from tests.test_actions import tracker

    t = tracker(text, intent=intent, slots={**(slots or {}), **dict(candidates)}, entities=entities, sender=sender, metadata=metadata,
                extra=extra, active_loop="report_form" if active else None, slot_events=list(candidates))
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ValidateReportForm().run(dispatcher, t, FORM_DOMAIN))
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}, dispatcher.messages


def submit(slots, sender="bob", metadata=None):
    from actions.report import ActionSubmitReport
    from tests.test_actions import run, slots_of, tracker

    events, messages = run(ActionSubmitReport(), tracker("确认", intent="affirm", slots=slots, sender=sender,
                                                         metadata=metadata))
    return slots_of(events), messages


def add_person(engine, sender, role="resident", phone=None):
    from datetime import datetime, timezone

    from bot.people.models import Person
    from bot.volunteers.models import Volunteer

    now = datetime.now(timezone.utc)
    with session_scope(engine) as session:
        session.add(Person(channel="rest", sender_id=sender, role=role, updated_at=now))
        if phone:
            session.add(Volunteer(channel="rest", sender_id=sender, name="小李", phone=phone, status="active",
                                  consent=True, created_at=now, updated_at=now))


def test_a_second_reporter_is_shown_the_open_ticket_without_the_first_ones_details(actions_db):
    from actions import common

    first = report(common.store(), description="5号楼2单元502屋顶漏水 电话13812345678")
    opening = dict(candidates=[("category", "leak"), ("description", "我家也漏了"), ("community", "万柳西园社区"),
                               ("building", "5")], entities=[{"entity": "building", "value": "5"},
                                                             {"entity": "community", "value": "万柳西园社区"}])
    slots, _ = form_turn("万柳西园5号楼屋顶漏水了", **opening)
    assert slots["requested_slot"] == "same_problem" and slots["duplicate_of"] == first.id
    day = common.local_time(first.created_at)[:-5]
    assert slots["duplicate_summary"] == f"5号楼已经有人报过类似的问题：\n{day}报的漏雨渗水，已派单", \
        "category, building, status and date only: no words, number or reporter of someone else's ticket"
    alice, _ = form_turn("万柳西园5号楼屋顶漏水了", sender="alice", **opening)
    assert alice["requested_slot"] == "unit", "the reporter is not asked about their own ticket"


def test_yes_follows_the_ticket_and_ends_the_form(actions_db):
    from actions import common

    first = report(common.store())
    place = {"category": "leak", "description": "我家也漏", "community": "万柳西园社区", "building": "5",
             "duplicate_of": first.id, "requested_slot": "same_problem"}
    slots, _ = form_turn("是的", intent="affirm", slots=place, candidates=[("same_problem", True)], active=True)
    assert slots["same_problem"] is True and slots["requested_slot"] is None
    done, messages = submit({**place, "same_problem": True, "requested_slot": None})
    assert done["ticket_id"] == first.id and messages[0]["response"] == "utter_following"
    assert messages[0]["count"] == 2 and common.store().followers(first.id) == [("rest", "bob")]
    assert len(common.store().list()) == 1


def test_a_new_building_before_the_answer_looks_again(actions_db):
    from actions import common

    first = report(common.store())
    place = {"category": "leak", "description": "我家也漏", "community": "万柳西园社区", "building": "5",
             "duplicate_of": first.id, "duplicate_summary": "…", "requested_slot": "same_problem"}
    for answer in (True, False):
        slots, _ = form_turn("是6号楼", intent="affirm", slots=place, candidates=[("same_problem", answer),
                                                                                 ("building", "6")],
                             entities=[{"entity": "building", "value": "6"}], active=True)
        assert slots["duplicate_of"] is None and slots["same_problem"] is None
        assert slots["building"] == "6" and slots["requested_slot"] == "unit"


def test_no_goes_on_with_the_report(actions_db):
    from actions import common

    first = report(common.store())
    place = {"category": "leak", "description": "我家也漏", "community": "万柳西园社区", "building": "5",
             "duplicate_of": first.id, "requested_slot": "same_problem"}
    slots, _ = form_turn("不是", intent="deny", slots=place, candidates=[("same_problem", False)], active=True)
    assert slots["same_problem"] is False and slots["requested_slot"] == "unit"


def test_a_ticket_closed_meanwhile_is_filed_anew(actions_db):
    from actions import common

    first = report(common.store())
    common.store().transition(first.id, "resolved", "staff:wang")
    done, messages = submit({"category": "leak", "description": "我家也漏", "community": "万柳西园社区",
                             "building": "5", "duplicate_of": first.id, "same_problem": True})
    assert "单独登记" in messages[0]["text"] and messages[1]["response"] == "utter_ticket_created"
    assert done["ticket_id"] != first.id and common.store().followers(first.id) == []


def test_the_place_is_remembered_and_offered_next_time(actions_db):
    from bot.people.profiles import place_of

    submit({"category": "noise", "description": "楼上太吵", "community": "望园社区", "building": "3",
            "report_confirmed": True})
    assert place_of("rest", "bob").label == "望园社区3号楼"
    slots, _ = form_turn("屋顶漏水了", candidates=[("category", "leak"), ("description", "屋顶漏水了")])
    assert slots["requested_slot"] == "use_profile" and slots["place_offer"] == "望园社区3号楼"
    offered = {"category": "leak", "description": "屋顶漏水了", "requested_slot": "use_profile", **{
        k: slots[k] for k in ("offered_place", "place_offer")}}
    yes, _ = form_turn("是的", intent="affirm", slots=offered, candidates=[("use_profile", True)], active=True)
    assert (yes["community"], yes["building"], yes["requested_slot"]) == ("望园社区", "3", "unit")
    no, _ = form_turn("不是", intent="deny", slots=offered, candidates=[("use_profile", False)], active=True)
    assert no["requested_slot"] == "community"


def test_a_building_in_the_message_wins_over_the_profile(actions_db):
    submit({"category": "noise", "description": "楼上太吵", "community": "望园社区", "building": "3",
            "report_confirmed": True})
    slots, _ = form_turn("4号楼屋顶漏水了", candidates=[("category", "leak"), ("building", "4")],
                         entities=[{"entity": "building", "value": "4"}])
    assert "place_offer" not in slots and slots["community"] == "望园社区" and slots["building"] == "4"
    assert slots["requested_slot"] == "unit"
    carried, _ = form_turn("屋顶漏水了", slots={"community": "万柳西园社区", "building": "5", "unit": "2"},
                           candidates=[("category", "leak"), ("community", "万柳西园社区"), ("building", "5"),
                                       ("unit", "2")])
    assert (carried["community"], carried["building"], carried["unit"]) == (None, None, None)
    assert carried["place_offer"] == "万柳西园社区5号楼" and carried["requested_slot"] == "use_profile"


def test_a_riders_quick_report_asks_photo_and_place_first_and_no_room_or_phone(actions_db):
    add_person(actions_db, "rider", role="volunteer", phone="13900001111")
    photo = {"photo": "file-1"}
    slots, _ = form_turn("[图片]", sender="rider", metadata=photo, extra={"category": {"name": "noise", "confidence": 0.1}})
    assert slots["photos"] == ["file-1"] and slots["phone"] == "13900001111"
    assert slots["requested_slot"] == "location"
    state = {k: v for k, v in slots.items() if k != "requested_slot"}
    where = {"latitude": HERE[0], "longitude": HERE[1]}
    located_, _ = form_turn("[位置]", sender="rider", slots={**state, "requested_slot": "location"},
                            metadata={"location": where}, active=True, extra={})
    assert located_["location"] == where and located_["requested_slot"] == "category"
    state.update(location=where)
    told, _ = form_turn("井盖没了", sender="rider", slots={**state, "requested_slot": "category"},
                        extra={"category": {"name": "public_facility", "confidence": 0.9}}, active=True)
    assert told["category"] == "public_facility" and told["requested_slot"] == "report_confirmed"
    assert "139****1111" in told["report_summary"] and "位置" in told["report_summary"]
    done, messages = submit({**state, "category": "public_facility", "description": "井盖没了",
                             "report_confirmed": True}, sender="rider")
    from actions import common

    ticket = common.store().get(done["ticket_id"])
    assert (ticket.source, ticket.photos, ticket.phone, ticket.room) == ("volunteer", ("file-1",), "13900001111", None)
    assert (ticket.latitude, ticket.longitude) == HERE and messages[0]["response"] == "utter_ticket_created"


def test_a_rider_without_a_photo_says_so(actions_db):
    add_person(actions_db, "rider", role="volunteer")
    slots, _ = form_turn("这里井盖没了", sender="rider", candidates=[("category", "public_facility")],
                         extra={"category": {"name": "public_facility", "confidence": 0.9}})
    assert slots["requested_slot"] == "photos" and "phone" not in slots
    skipped, _ = form_turn("没有照片", intent="deny", sender="rider", active=True, candidates=[("photos", [])],
                           slots={"category": "public_facility", "requested_slot": "photos"})
    assert skipped["photos"] == [] and skipped["requested_slot"] == "location"


# -- end to end: real Rasa and action servers, the REST channel -----------------------------------------

@pytest.fixture
def stack_store(stack):
    from sqlalchemy import create_engine

    from bot.core.db import init_db

    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    init_db(engine)
    yield TicketStore(engine=engine)
    engine.dispose()


@pytest.mark.slow
def test_e2e_a_second_resident_follows_on_yes_and_files_anew_on_no(stack, stack_store):
    stack.texts("e2e-dup-first", "望园2号楼1单元101厨房顶上漏水了 电话13812340000")
    first = ticket_id_in(stack.texts("e2e-dup-first", "确认"))
    shown = stack.texts("e2e-dup-second", "望园2号楼我家屋顶也在漏水")
    assert "同一个问题" in shown and "报的漏雨渗水" in shown, shown
    assert not [p for p in (first, "13812340000", "101", "厨房") if p in shown], "someone else's ticket: no number or words"
    joined = stack.texts("e2e-dup-second", "是的")
    assert first in joined and "关注" in joined
    assert stack_store.followers(first) == [("rest", "e2e-dup-second")]
    assert first in stack.texts("e2e-dup-second", "查进度")
    assert stack_store.get(first).followers == 1 and len(stack_store.list(community="望园社区")) == 1

    assert "同一个问题" in stack.texts("e2e-dup-third", "望园2号楼屋顶漏水")
    assert "几单元" in stack.texts("e2e-dup-third", "不是")
    assert "门牌号" in stack.texts("e2e-dup-third", "3单元")
    assert "手机号" in stack.texts("e2e-dup-third", "302")
    assert "确认" in stack.texts("e2e-dup-third", "不用")
    third = ticket_id_in(stack.texts("e2e-dup-third", "确认"))
    assert third != first and stack_store.get(third).unit == "3"
    assert stack_store.followers(first) == [("rest", "e2e-dup-second")]


@pytest.mark.slow
def test_e2e_the_place_is_offered_on_a_second_report(stack, stack_store):
    sender = "e2e-profile"
    assert "几单元" in stack.texts(sender, "万柳西园6号楼电梯坏了好几天了 电话13812341111")
    stack.texts(sender, "2单元")
    ticket_id_in(stack.texts(sender, "确认"))
    offer = stack.texts(sender, "楼道里堆满了纸箱子")
    assert "还是万柳西园社区6号楼吗" in offer
    assert "几单元" in stack.texts(sender, "是的")
    stack.texts(sender, "1单元")
    second = stack_store.get(ticket_id_in(stack.texts(sender, "确认")))
    assert (second.category, second.community, second.building, second.unit) == (
        "corridor_clutter", "万柳西园社区", "6", "1")
    assert "还是万柳西园社区6号楼吗" not in stack.texts(sender, "望园3号楼楼道里也堆满了东西")
    stack.texts(sender, "算了")


@pytest.mark.slow
def test_e2e_a_riders_photo_and_location_report(stack, stack_store):
    add_person(stack_store.engine, "e2e-rider", "volunteer", "13900002222")
    assert "位置" in stack.texts("e2e-rider", "[图片]", {"photo": "tg-file-42", "chat_type": "private"})
    place = {"latitude": NEAR[0], "longitude": NEAR[1]}
    asked = stack.texts("e2e-rider", "[位置]", {"location": place, "chat_type": "private"})
    assert "什么问题" in asked
    summary = stack.texts("e2e-rider", "路边井盖丢了一个，黑窟窿很危险")
    assert "139****2222" in summary and "门牌" not in summary
    ticket = stack_store.get(ticket_id_in(stack.texts("e2e-rider", "确认")))
    assert (ticket.source, ticket.photos, ticket.phone, ticket.room) == ("volunteer", ("tg-file-42",),
                                                                         "13900002222", None)
    assert (ticket.latitude, ticket.longitude) == NEAR and ticket.reporter_id == "e2e-rider"
    assert ticket.id in stack.texts("e2e-rider", "查进度")


@pytest.mark.slow
def test_e2e_a_rider_without_a_photo_says_so_and_the_ticket_has_none(stack, stack_store):
    add_person(stack_store.engine, "e2e-rider-2", "volunteer", "13900003333")
    assert "照片" in stack.texts("e2e-rider-2", "望园社区3号楼门口井盖丢了")
    summary = stack.texts("e2e-rider-2", "没有照片")
    assert "照片：" not in summary, summary
    ticket = stack_store.get(ticket_id_in(stack.texts("e2e-rider-2", "确认")))
    assert (ticket.source, ticket.photos) == ("volunteer", ())
