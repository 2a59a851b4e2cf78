"""Rider volunteers: answers checked before anything is stored, pending until approved, nudges on
approval, "all clear" once per rider, area and day, monthly points from seeded tickets and patrols;
the sign-up form as actions; and the whole path — sign-up, approval in chat, first nudge, all clear,
a hazard report that becomes a ticket, points — through a real stack and the REST channel."""
from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine, func, select

from actions import common
from actions.volunteers import ActionMyPoints, ActionPatrolAllClear, ActionSubmitVolunteer, ValidateVolunteerForm
from bot.config.directory import get_directory
from bot.config.policy import get_policy
from bot.config.staff import StaffMember
from bot.core.clock import ManualClock
from bot.core.settings import PACKAGE_DATA
from bot.people import roles, roster
from bot.volunteers import nudges, patrol, points, records, signup
from bot.volunteers.models import PatrolAllClear
from bot.volunteers.nudges import NudgeError
from bot.volunteers.records import VolunteerError
from tests.fixtures_db import NOON_BEIJING
from tests.scheduling import BEIJING, beijing, start_scheduler
from tests.stack import start_stack

RIDER = dict(name="张强", phone="13812345678", platform="美团", areas=["望园"], times=["11:00", "17:30"], consent=True)


def sign_up(engine, sender="rider-1", now=NOON_BEIJING, **overrides):
    return signup.sign_up(engine, get_policy(), get_directory(), "rest", sender, now=now, **{**RIDER, **overrides})


# -- answers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, phone", [("13812345678", "13812345678"), ("138 1234 5678", "13812345678"),
                                         ("+86 138-1234-5678", "13812345678"), ("电话是13812345678", "13812345678")])
def test_phone_numbers_as_riders_write_them(text, phone):
    assert signup.parse_rider_phone(text) == phone


@pytest.mark.parametrize("text", ["12345", "1381234567", "23812345678", "我没手机", "", "138123456789"])
def test_invalid_phone_numbers_are_refused_clearly(text):
    with pytest.raises(VolunteerError) as refused:
        signup.parse_rider_phone(text)
    assert "11位手机号" in refused.value.user_message


def test_patrol_areas_accept_aliases_several_or_all_and_refuse_unknown_ones():
    directory = get_directory()
    assert signup.parse_areas("西园", directory) == ("万柳西园社区",)
    assert signup.parse_areas("望园东里和西园", directory) == ("望园社区", "万柳西园社区")
    assert signup.parse_areas("全部", directory) == ("万柳西园社区", "望园社区")
    with pytest.raises(VolunteerError) as refused:
        signup.parse_areas("火星小区", directory)
    assert "火星小区" in refused.value.user_message and "万柳西园社区、望园社区" in refused.value.user_message


@pytest.mark.parametrize("text, reason", [("明天", "不是一个时间"), ("25:00", "不是一个时间"), ("下午五点", "不是一个时间"),
                                          ("23:30", "休息时段"), ("7点半", "休息时段"), ("", "至少选一个"),
                                          ("9:00 12:00 15:00 18:00", "最多提醒3次")])
def test_nonsense_nudge_times_are_refused(text, reason):
    with pytest.raises(NudgeError) as refused:
        signup.parse_nudge_times(text, get_policy())
    assert reason in refused.value.user_message


def test_nudge_times_as_riders_write_them():
    assert signup.parse_nudge_times("18点、8点半，11:00", get_policy()) == ["08:30", "11:00", "18:00"]


def test_names_and_platforms():
    assert signup.parse_name("我叫张强") == "张强"
    assert signup.parse_platform("我跑饿了么的") == "饿了么"
    assert signup.parse_platform("蜂鸟众包") == "蜂鸟众包"
    for bad in ("13812345678", "", "张" * 21):
        with pytest.raises(VolunteerError):
            signup.parse_name(bad)


# -- signing up, approving, pausing ------------------------------------------------------------------

def test_a_sign_up_waits_for_approval_then_gets_its_nudges(engine):
    pending = sign_up(engine)
    assert (pending.status, pending.areas, pending.nudge_times) == ("pending", ("望园社区",), ("11:00", "17:30"))
    assert roles.role_of("rest", "rider-1", engine) == "resident"
    assert nudges.get(engine, "rest", "rider-1") is None, "no nudges before staff approve"

    approved = records.approve(engine, get_policy(), "rest:rider-1", NOON_BEIJING)
    assert approved.status == "active" and roles.role_of("rest", "rider-1", engine) == "volunteer"
    subscription = nudges.get(engine, "rest", "rider-1")
    assert (subscription.area, subscription.times, subscription.active) == ("望园社区", ("11:00", "17:30"), True)

    paused = records.pause(engine, "13812345678", NOON_BEIJING)
    assert paused.status == "paused" and roles.role_of("rest", "rider-1", engine) == "resident"
    assert not nudges.get(engine, "rest", "rider-1").active
    records.approve(engine, get_policy(), "张强", NOON_BEIJING)
    assert nudges.get(engine, "rest", "rider-1").active


def test_several_patrol_areas_are_nudged_for_the_whole_street(engine):
    sign_up(engine, areas=["西园", "望园"])
    records.approve(engine, get_policy(), "rest:rider-1", NOON_BEIJING)
    assert nudges.get(engine, "rest", "rider-1").area is None


@pytest.mark.parametrize("change, reason", [
    ({"phone": "1381234"}, "11位手机号"),
    ({"areas": ["火星"]}, "火星"),
    ({"times": ["25:00"]}, "不是一个时间"),
    ({"name": ""}, "怎么称呼"),
    ({"consent": False}, "同意"),
])
def test_a_bad_sign_up_stores_nothing(engine, change, reason):
    with pytest.raises((VolunteerError, NudgeError)) as refused:
        sign_up(engine, **change)
    assert reason in refused.value.user_message
    assert records.list_volunteers(engine) == []


def test_staff_name_riders_unambiguously(engine):
    sign_up(engine, "a")
    sign_up(engine, "b", phone="13900002222")
    with pytest.raises(VolunteerError) as ambiguous:
        records.find(engine, "张强")
    assert "不止一位" in ambiguous.value.user_message
    assert records.find(engine, "13900002222").sender_id == "b"
    assert records.find(engine, "rest:a").sender_id == "a"


# -- all clear and points ----------------------------------------------------------------------------

def test_all_clear_is_recorded_once_per_rider_area_and_local_day(engine):
    zone, day = get_policy().zone, beijing("2026-11-23 10:00")
    assert patrol.record_all_clear(engine, zone, "rest", "r1", "望园社区", day) is True
    assert patrol.record_all_clear(engine, zone, "rest", "r1", "望园社区", day + timedelta(hours=13)) is False
    assert patrol.record_all_clear(engine, zone, "rest", "r1", "万柳西园社区", day) is True
    assert patrol.record_all_clear(engine, zone, "rest", "r2", "望园社区", day) is True
    assert patrol.record_all_clear(engine, zone, "rest", "r1", "望园社区", beijing("2026-11-24 00:01")) is True
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(PatrolAllClear)).scalar() == 4


def test_points_count_fixed_reports_and_patrols_of_the_month(engine, clock, store):
    """Seeded: the rider's tickets closed after a solved follow-up this month count; one closed for
    want of an answer, one closed last month, one still open and someone else's do not."""
    for sender, phone, name in (("r1", "13800000001", "张强"), ("r2", "13800000002", "李明")):
        sign_up(engine, sender, phone=phone, name=name)
    zone = get_policy().zone

    def report(sender="r1"):
        return store.create(category="public_facility", description="井盖没了", reporter_channel="rest",
                            reporter_id=sender, community="望园", building="3")

    def close(ticket, action="closed"):
        store.transition(ticket.id, "resolved", "staff:wang")
        return store.transition(ticket.id, "closed", "linli" if action == "no_answer" else "rest:r1", action=action)

    clock.set(beijing("2026-10-30 09:00"))
    close(report())                                    # October
    clock.set(beijing("2026-11-02 09:00"))
    close(report()), close(report())                   # two fixed in November
    close(report(), action="no_answer")                # closed, but nobody said it was solved
    report()                                           # still open
    close(report("r2"))                                # the other rider's
    clock.set(beijing("2026-12-01 00:30"))
    close(report())                                    # December, Beijing time (still November in UTC)
    for day in ("2026-11-02 10:00", "2026-11-03 10:00", "2026-11-30 23:59", "2026-12-01 08:00"):
        patrol.record_all_clear(engine, zone, "rest", "r1", "望园社区", beijing(day))

    november = {p.rider.sender_id: (p.fixed_reports, p.all_clears)
                for p in points.points(engine, zone, date(2026, 11, 1))}
    assert november == {"r1": (2, 3), "r2": (1, 0)}
    [october] = points.points(engine, zone, date(2026, 10, 1), records.get(engine, "rest", "r1"))
    assert (october.fixed_reports, october.all_clears) == (1, 0)


@pytest.mark.parametrize("text, first", [("", date(2026, 11, 1)), ("2026-10", date(2026, 10, 1)),
                                         ("2025年12月", date(2025, 12, 1)), ("3月", date(2026, 3, 1))])
def test_months_as_staff_write_them(text, first):
    assert points.parse_month(text, BEIJING, NOON_BEIJING) == first


# -- the form and the actions ----------------------------------------------------------------------

@pytest.fixture
def chat(tmp_path, monkeypatch):
    """The action server's store on a fresh SQLite database."""
    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite:///{tmp_path / 'volunteers.db'}")
    from bot.core.db import init_db

    common.store.cache_clear()
    init_db()
    yield common.store()
    common.store.cache_clear()


def tracker(text="", intent="nlu_fallback", slots=None, sender="r1", entities=(), metadata=None, active=True):
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": list(entities),
              "metadata": metadata or {}}
    return Tracker.from_dict({"sender_id": sender, "slots": slots or {}, "latest_message": latest,
                              "events": [{"event": "user", "text": text, "parse_data": latest, "input_channel": "rest"}],
                              "latest_input_channel": "rest", "latest_action_name": "action_listen",
                              "active_loop": {"name": "volunteer_form"} if active else {}})


DOMAIN = {"forms": {"volunteer_form": {"required_slots": ["volunteer_name", "volunteer_phone", "volunteer_platform",
                                                          "volunteer_areas", "volunteer_times", "volunteer_consent"]}},
          "slots": {}, "responses": {}}


def run(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, DOMAIN))
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}, dispatcher.messages


def test_the_opening_message_fills_what_it_says(chat):
    slots, messages = run(ValidateVolunteerForm(), tracker(
        "我是美团骑手 在西园跑单 电话13812345678 想报名", "volunteer_signup", active=False,
        entities=[{"entity": "community", "value": "万柳西园社区"}, {"entity": "phone", "value": "13812345678"}]))
    assert messages[0]["response"] == "utter_volunteer_intro"
    assert (slots["volunteer_platform"], slots["volunteer_areas"], slots["volunteer_phone"]) == (
        "美团", ["万柳西园社区"], "13812345678")


def test_an_invalid_phone_is_explained_and_asked_again(chat):
    asked = {"requested_slot": "volunteer_phone", "volunteer_name": "张强"}
    slots, messages = run(ValidateVolunteerForm(), tracker("1381234", slots=asked))
    assert "11位手机号" in messages[0]["text"]
    assert slots["volunteer_phone"] is None
    assert slots["failed_attempts"] == 1
    slots, _ = run(ValidateVolunteerForm(), tracker("还是1381234", slots={**asked, "failed_attempts": 2}))
    assert slots["volunteer_stopped"] == "stuck" and slots["requested_slot"] is None
    assert records.list_volunteers(chat.engine) == []


def test_digits_answer_the_phone_question_whatever_the_classifier_thought(chat):
    slots, messages = run(ValidateVolunteerForm(), tracker("1381234", "faq", slots={"requested_slot": "volunteer_phone"}))
    assert slots["volunteer_phone"] is None and "11位手机号" in messages[0]["text"]


def test_unknown_community_and_nonsense_times_are_asked_again(chat):
    filled = {"volunteer_name": "张强", "volunteer_phone": "13812345678", "volunteer_platform": "美团"}
    slots, messages = run(ValidateVolunteerForm(), tracker("火星小区", slots={**filled, "requested_slot": "volunteer_areas"}))
    assert slots["volunteer_areas"] is None and "火星小区" in messages[0]["text"]
    slots, messages = run(ValidateVolunteerForm(), tracker("随便吧", slots={
        **filled, "volunteer_areas": ["望园社区"], "requested_slot": "volunteer_times"}))
    assert slots["volunteer_times"] is None and "不是一个时间" in messages[0]["text"]


def test_the_consent_question_shows_the_phone_masked(chat):
    filled = {"volunteer_name": "张强", "volunteer_phone": "13812345678", "volunteer_platform": "美团",
              "volunteer_areas": ["望园社区"], "requested_slot": "volunteer_times"}
    slots, _ = run(ValidateVolunteerForm(), tracker("11:00 17:30", slots=filled))
    assert "138****5678" in slots["volunteer_summary"] and "13812345678" not in slots["volunteer_summary"]


@pytest.mark.parametrize("text, intent, consent", [("同意", "nlu_fallback", True), ("不同意", "affirm", False),
                                                   ("/affirm", "affirm", True), ("/deny", "deny", False)])
def test_consent_by_button_or_typed(chat, text, intent, consent):
    slots, _ = run(ValidateVolunteerForm(), tracker(text, intent, slots={"requested_slot": "volunteer_consent"}))
    assert slots["volunteer_consent"] is consent


def test_cancelling_or_refusing_consent_stores_nothing(chat):
    slots, _ = run(ValidateVolunteerForm(), tracker("算了不报了", "deny", slots={"requested_slot": "volunteer_phone"}))
    assert slots == {"volunteer_stopped": "cancelled", "requested_slot": None}
    filled = {"volunteer_name": "张强", "volunteer_phone": "13812345678", "volunteer_platform": "美团",
              "volunteer_areas": ["望园社区"], "volunteer_times": ["11:00"], "volunteer_consent": False}
    _, messages = run(ActionSubmitVolunteer(), tracker("不同意", "deny", slots=filled))
    assert messages[0]["response"] == "utter_volunteer_no_consent"
    assert records.list_volunteers(chat.engine) == []


def test_signing_up_and_signing_up_again(chat):
    filled = {"volunteer_name": "张强", "volunteer_phone": "13812345678", "volunteer_platform": "美团",
              "volunteer_areas": ["望园社区"], "volunteer_times": ["11:00", "17:30"], "volunteer_consent": True}
    slots, messages = run(ActionSubmitVolunteer(), tracker("同意", "affirm", slots=filled))
    assert messages[0]["response"] == "utter_volunteer_welcome" and messages[0]["times"] == "11:00、17:30"
    assert all(value in (None, 0) for value in slots.values()), "the answers leave the conversation"
    assert records.get(chat.engine, "rest", "r1").status == "pending"
    slots, _ = run(ValidateVolunteerForm(), tracker("报名志愿者", "volunteer_signup", active=False))
    assert slots["volunteer_stopped"] == "registered"
    _, messages = run(ActionSubmitVolunteer(), tracker("报名志愿者", "volunteer_signup", slots=slots))
    assert messages[0]["response"] == "utter_volunteer_already_pending"


def test_no_sign_up_in_a_group(chat):
    slots, _ = run(ValidateVolunteerForm(), tracker("报名志愿者", "volunteer_signup", active=False,
                                                    metadata={"chat_type": "group"}))
    assert slots["volunteer_stopped"] == "group"


def test_all_clear_and_points_in_chat(chat):
    _, messages = run(ActionPatrolAllClear(), tracker("一切正常", "patrol_all_clear", active=False))
    assert messages[0]["response"] == "utter_patrol_all_clear_guest"
    sign_up(chat.engine, "r1", now=chat.clock())
    _, messages = run(ActionPatrolAllClear(), tracker("一切正常", "patrol_all_clear", active=False))
    assert messages[0]["response"] == "utter_patrol_all_clear_pending"
    records.approve(chat.engine, get_policy(), "rest:r1", chat.clock())
    _, first = run(ActionPatrolAllClear(), tracker("一切正常", "patrol_all_clear", active=False))
    _, again = run(ActionPatrolAllClear(), tracker("都正常", "patrol_all_clear", active=False))
    assert (first[0]["response"], first[0]["area"]) == ("utter_patrol_all_clear", "望园社区")
    assert again[0]["response"] == "utter_patrol_all_clear_again"
    _, named = run(ActionPatrolAllClear(), tracker("西园也正常", "patrol_all_clear", active=False,
                                                   entities=[{"entity": "community", "value": "万柳西园社区"}]))
    assert named[0]["area"] == "万柳西园社区"
    _, points = run(ActionMyPoints(), tracker("我的积分", "my_points", active=False))
    assert (points[0]["fixed"], points[0]["clear"]) == (0, 2)
    _, stranger = run(ActionMyPoints(), tracker("我的积分", "my_points", sender="someone", active=False))
    assert stranger[0]["response"] == "utter_my_points_not_volunteer"


def test_a_rider_staff_subscribed_directly_is_on_patrol_too(chat):
    nudges.subscribe(chat.engine, get_policy(), "rest", "direct", chat.clock(), area="望园社区", times=["12:00"])
    _, messages = run(ActionPatrolAllClear(), tracker("一切正常", "patrol_all_clear", sender="direct", active=False))
    assert (messages[0]["response"], messages[0]["area"]) == ("utter_patrol_all_clear", "望园社区")
    nudges.unsubscribe(chat.engine, "rest", "direct", chat.clock())
    _, messages = run(ActionPatrolAllClear(), tracker("一切正常", "patrol_all_clear", sender="direct", active=False))
    assert messages[0]["response"] == "utter_patrol_all_clear_guest"


# -- end to end ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rider_stack(tmp_path_factory):
    """A stack of its own: its staff file names a REST sender, so staff commands can be tried there."""
    folder = tmp_path_factory.mktemp("volunteers")
    staff_file = folder / "staff.yml"
    shutil.copy(PACKAGE_DATA / "staff.yml", staff_file)
    running = start_stack(folder, staff_file=str(staff_file))
    running.staff_file = staff_file
    yield running
    running.stop()


#: What a rider says to whatever the complaint form asks (its questions depend on the reporter).
ANSWERS = (("请您确认", "确认"), ("什么问题", "望园3号楼门口的井盖没了 一个大黑窟窿"), ("照片", "没有照片"),
           ("位置", "望园3号楼门口"), ("哪个社区", "望园"), ("哪栋楼", "3号楼"), ("单元", "1单元"), ("门牌", "101"),
           ("手机号", "13812345678"))


def answer(question: str) -> str:
    return next((said for asked, said in ANSWERS if asked in question), "确认")


def texts(messages):
    return "\n".join(m.get("text", "") for m in messages)


def tap(stack, sender, messages, title):
    button = next(b for m in messages for b in m.get("buttons", []) if b["title"] == title)
    return stack.say(sender, button["payload"])


@pytest.mark.slow
def test_sign_up_first_nudge_all_clear_and_a_report_through_the_stack(rider_stack, monkeypatch):
    stack, rider, boss = rider_stack, f"rider-{uuid.uuid4().hex[:6]}", f"boss-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("LINLI_STAFF_FILE", str(stack.staff_file))
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)

    # Sign-up, with a bad phone number, an unknown community and nonsense times on the way.
    assert "怎么称呼" in stack.texts(rider, "我是美团骑手 想报名当流动吹哨人")
    assert "手机号" in stack.texts(rider, "张强")
    again = stack.texts(rider, "1381234")
    assert "11位手机号" in again and "留个手机号" in again
    assert records.get(engine, "rest", rider) is None
    assert "哪个社区" in stack.texts(rider, "13812345678")
    unknown = stack.texts(rider, "火星小区")
    assert "没找到“火星小区”" in unknown and "哪个社区" in unknown
    assert "几点" in stack.texts(rider, "望园")
    assert "不是一个时间" in stack.texts(rider, "明天吧")
    confirm = stack.say(rider, "11:00 17:30")
    assert "138****5678" in texts(confirm) and "13812345678" not in texts(confirm)
    welcome = texts(tap(stack, rider, confirm, "同意"))
    assert "欢迎加入流动吹哨人" in welcome and len(welcome.splitlines()) == 2
    assert records.get(engine, "rest", rider).status == "pending"

    # Staff approve in chat: refused before the boss is on the roster, done at once after.
    assert "只对社区工作人员开放" in stack.texts(boss, f"/批准 rest:{rider}")
    roster.add_staff(StaffMember("rest", boss), engine)
    approved = stack.texts(boss, f"/批准 rest:{rider}")
    assert "已批准 张强" in approved and records.get(engine, "rest", rider).status == "active"
    assert "只对社区工作人员开放" in stack.texts(rider, "/工单 列表")

    # The first nudge, delivered by the scheduler through Rasa; its buttons.
    clock = ManualClock(datetime.now(timezone.utc))
    scheduler = start_scheduler(engine, stack.url, clock)
    try:
        scheduler.wait_idle()
        local = clock().astimezone(BEIJING)
        eleven = datetime.combine(local.date() + timedelta(days=local.hour >= 11), datetime.min.time().replace(hour=11),
                                  BEIJING)
        clock.set(eleven.astimezone(timezone.utc))
        scheduler.wait_idle(60)
        from bot.messaging.delivery import delivered

        [record] = delivered(engine, f"nudge:rest:{rider}:{eleven.date().isoformat()}T11:00")
        assert record.status == "sent", record.error
        nudge = record.messages
        assert "望园社区" in texts(nudge)
        assert "望园社区一切正常" in texts(tap(stack, rider, nudge, "一切正常"))
        assert "已经记上了" in texts(tap(stack, rider, nudge, "一切正常"))
    finally:
        scheduler.stop()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(PatrolAllClear)
                                  .where(PatrolAllClear.sender_id == rider)).scalar() == 1

    # A hazard seen on the round becomes a ticket, whatever the form asks on the way.
    replies = texts(tap(stack, rider, nudge, "报告隐患"))
    transcript = [replies]
    for _ in range(10):
        if re.search(r"GD\d{12}", replies):
            break
        transcript.append(f"> {answer(replies)}")
        replies = stack.texts(rider, answer(replies))
        transcript.append(replies)
    found = re.search(r"GD\d{12}", replies)
    assert found, "\n".join(transcript)
    ticket_id = found.group(0)
    from bot.tickets.store import TicketStore

    ticket = TicketStore(engine=engine).get(ticket_id)
    assert (ticket.reporter_id, ticket.community, ticket.category) == (rider, "望园社区", "public_facility")
    points = stack.texts(rider, "我的积分")
    assert "平安巡查 1 次" in points and "隐患上报已解决 0 件" in points

    # Removed from the roster: refused again at once.
    roster.remove_staff("rest", boss, engine)
    assert "只对社区工作人员开放" in stack.texts(boss, "/志愿者")
    engine.dispose()


def active_rider(stack, engine) -> str:
    """A rider signed up and approved through the same functions the chat and staff use."""
    rider, now = f"rider-{uuid.uuid4().hex[:6]}", datetime.now(timezone.utc)
    signup.sign_up(engine, get_policy(), get_directory(), "rest", rider, name="李明", phone="13712345678",
                   platform="饿了么", areas=["望园"], times=["11:00"], consent=True, now=now)
    records.approve(engine, get_policy(), f"rest:{rider}", now)
    return rider


def filed(stack, engine, replies: str):
    from bot.tickets.store import TicketStore

    found = re.search(r"GD\d{12}", replies)
    assert found, replies
    return TicketStore(engine=engine).get(found.group(0))


@pytest.mark.slow
def test_a_riders_own_concern_asks_no_photo_and_takes_the_place_in_their_words(rider_stack):
    """小哥说事 with no place: asked where once, the typed place is kept as said, then filed."""
    stack = rider_stack
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    rider = active_rider(stack, engine)
    where = stack.texts(rider, "小哥说事 单元门禁每次都不给外卖员开 按半天门铃也没人理")
    assert "位置" in where and "照片" not in where
    summary = stack.texts(rider, "望园南门那个岗亭边上")
    assert "请您确认" in summary and "望园南门那个岗亭边上" in summary and "没听明白" not in summary
    ticket = filed(stack, engine, stack.texts(rider, "确认"))
    assert (ticket.category, ticket.community, ticket.handler_name) == ("rider_concern", "望园社区", "新就业群体服务站")
    assert "望园南门那个岗亭边上" in ticket.description and ticket.source == "volunteer"
    engine.dispose()


@pytest.mark.slow
def test_a_riders_hazard_with_the_building_in_the_second_message_is_filed(rider_stack):
    """A hazard's photo is declined, the place answered with a building: no second question about
    the place, and the building and the rider's words both reach the ticket."""
    stack = rider_stack
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    rider = active_rider(stack, engine)
    assert "照片" in stack.texts(rider, "消防通道让几辆私家车给堵死了")
    assert "位置" in stack.texts(rider, "没有照片")
    summary = stack.texts(rider, "望园5号楼后头那条通道")
    assert "请您确认" in summary and "没听明白" not in summary
    ticket = filed(stack, engine, stack.texts(rider, "确认"))
    assert (ticket.category, ticket.community, ticket.building) == ("fire_safety", "望园社区", "5")
    assert "望园5号楼后头那条通道" in ticket.description
    engine.dispose()


@pytest.mark.slow
def test_a_place_said_when_the_photo_is_asked_is_the_place(rider_stack):
    stack = rider_stack
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    rider = active_rider(stack, engine)
    assert "照片" in stack.texts(rider, "路边那个电线杆歪了 看着要倒")
    summary = stack.texts(rider, "在望园东里南门外头")
    assert "请您确认" in summary and "望园东里南门外头" in summary, summary
    ticket = filed(stack, engine, stack.texts(rider, "确认"))
    assert ticket.community == "望园社区" and "望园东里南门外头" in ticket.description and not ticket.photos
    engine.dispose()
