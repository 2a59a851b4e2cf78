"""Broadcasts: the audience and its preview, refusals that store nothing, sending once per person
whoever runs it, cancelling, and residents' topics — on SQLite and PostgreSQL against a stand-in
for Rasa's trigger_intent; then end to end through a real Rasa stack whose channels talk to the
Telegram, WeChat and WeChat Work stand-ins (tests/test_broadcasts_e2e.py is not a thing: the slow
half is at the bottom of this file, marked slow)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot import broadcasts
from bot.broadcasts import Audience, BroadcastError, Draft, Reach
from bot.db import session_scope
from bot.directory import get_directory
from bot.people import Person, Volunteer
from tests.scheduling import FakeRasa

BEIJING = ZoneInfo("Asia/Shanghai")
REACH = Reach(frozenset({"linli_telegram", "wechat", "wecom"}), frozenset({"wangyuan3"}))


def add_person(engine, channel, sender_id, community=None, building=None, subscribed=True, topics=(),
               role="resident"):
    with session_scope(engine) as session:
        session.add(Person(channel=channel, sender_id=str(sender_id), role=role, community=community,
                           building=building, subscribed=subscribed, topics=list(topics),
                           updated_at=datetime.now(timezone.utc)))


def add_volunteer(engine, channel, sender_id, areas, status="active"):
    now = datetime.now(timezone.utc)
    with session_scope(engine) as session:
        session.add(Volunteer(channel=channel, sender_id=str(sender_id), name="小李", phone="13800000000",
                              areas=list(areas), status=status, consent=True, created_at=now, updated_at=now))


@pytest.fixture
def town(engine):
    """望园社区: 3 Telegram and 2 WeChat subscribers in building 3, one of them outages-only, one
    unsubscribed, one on the REST channel, a known and an unknown WeChat Work robot; 万柳西园社区:
    one subscriber; volunteers: two active in 望园社区, one paused, one active elsewhere."""
    for n in range(3):
        add_person(engine, "linli_telegram", 1000 + n, "望园社区", "3")
    add_person(engine, "wechat", "oWX-a", "望园社区", "3")
    add_person(engine, "wechat", "oWX-b", "望园社区", "3", topics=["outages"])
    add_person(engine, "linli_telegram", 1100, "望园社区", "3", subscribed=False)
    add_person(engine, "rest", "web-1", "望园社区", "5")
    add_person(engine, "wecom", "robot:wangyuan3", "望园社区", "3")
    add_person(engine, "wecom", "robot:gone", "望园社区", "4")
    add_person(engine, "linli_telegram", 2000, "万柳西园社区", "5")
    add_volunteer(engine, "linli_telegram", 3000, ["望园社区"])
    add_volunteer(engine, "wechat", "oWX-rider", ["望园社区", "万柳西园社区"])
    add_volunteer(engine, "linli_telegram", 3001, ["望园社区"], status="paused")
    add_volunteer(engine, "linli_telegram", 3002, ["万柳西园社区"])
    return engine


def preview(engine, now, text="明天9点到12点停水", **audience):
    return broadcasts.preview(engine, Draft(text, Audience(**audience)), get_directory(), REACH, now)


def stored(engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        return (session.execute(select(func.count()).select_from(broadcasts.Broadcast)).scalar(),
                session.execute(select(func.count()).select_from(broadcasts.BroadcastRecipient)).scalar())


# -- audience and preview ----------------------------------------------------------------------------

def test_preview_counts_the_audience_per_channel_and_the_skipped_per_reason(town, clock):
    community = preview(town, clock(), community="望园社区")
    assert community.to_send == {"linli_telegram": 3, "wechat": 2, "wecom": 1}
    assert community.skipped == {"unsubscribed": 1, "channel_unavailable": 2}
    assert community.total == 6

    outages_only_left_out = preview(town, clock(), community="望园社区", building="3", topic="safety")
    assert outages_only_left_out.to_send == {"linli_telegram": 3, "wechat": 1, "wecom": 1}
    assert outages_only_left_out.skipped == {"unsubscribed": 1, "topic_not_chosen": 1}

    street = preview(town, clock())
    assert street.total == 7 and street.to_send["linli_telegram"] == 4

    lines = broadcasts.describe_preview(community, "Asia/Shanghai")
    assert lines[0] == "发给：望园社区订阅通知的居民"
    assert lines[1] == "共 6 人：Telegram 3，微信公众号 2，企业微信 1"
    assert lines[2] == "不发 3 人：渠道不能推送 2，未订阅或已退订 1"


def test_volunteers_are_chosen_by_patrol_area_and_status(town, clock):
    area = preview(town, clock(), kind="volunteers", community="望园社区")
    assert area.to_send == {"linli_telegram": 1, "wechat": 1} and area.skipped == {"volunteer_inactive": 1}
    everyone = preview(town, clock(), kind="volunteers")
    assert everyone.total == 3


def test_the_staff_command_is_read_into_an_audience_a_topic_and_a_time(clock):
    now, directory = clock(), get_directory()
    draft = broadcasts.parse_command("/通知 望园社区3号楼 #停水停电 定时 明天8:00 明天9点到12点停水\n请提前储水",
                                     directory, now, BEIJING)
    assert draft.audience == Audience("subscribers", "望园社区", "3", "outages")
    assert draft.text == "明天9点到12点停水\n请提前储水"
    assert draft.send_at.astimezone(BEIJING).strftime("%m-%d %H:%M") == "11-23 08:00"
    assert broadcasts.parse_command("/通知 望园社区 明天9点到12点停水", directory, now, BEIJING) == \
        Draft("明天9点到12点停水", Audience("subscribers", "望园社区"))
    volunteers = broadcasts.parse_command("／通知 志愿者 西园 今晚暴雨 注意安全", directory, now, BEIJING)
    assert volunteers.audience == Audience("volunteers", "万柳西园社区") and volunteers.text == "今晚暴雨 注意安全"


@pytest.mark.parametrize("command, message", [
    ("/通知 东湖社区 明天停水", "没有找到“东湖社区”"),
    ("/通知 望园社区 #天气 明天降温", "没有“天气”这类通知"),
    ("/通知 3号楼 明天停水", "3号楼是哪个社区的"),
    ("/通知 定时 下辈子 停水", "定时后面请写时间"),
])
def test_command_mistakes_are_named(clock, command, message):
    with pytest.raises(BroadcastError, match=message):
        broadcasts.parse_command(command, get_directory(), clock(), BEIJING)


def png(path, size=(40, 30)):
    Image.new("RGB", size, (200, 60, 60)).save(path, "PNG")
    return str(path)


@pytest.mark.parametrize("case, message", [
    ("empty", "通知内容是空的"),
    ("nobody", "目前没有人能收到"),
    ("unknown community", "没有找到“东湖社区”"),
    ("unknown building", "望园社区没有9号楼"),
    ("building of volunteers", "不能指定楼栋"),
    ("too long", "太长了"),
    ("in the past", "时间已经过了"),
    ("not an image", "不是一张能打开的图片"),
    ("truncated image", "不是一张能打开的图片"),
    ("wrong format", "GIF 格式"),
    ("huge image", "太大了"),
    ("missing image", "找不到图片文件"),
])
def test_bad_input_is_refused_clearly_and_nothing_is_stored(town, clock, tmp_path, monkeypatch, case, message):
    monkeypatch.setenv("LINLI_VAR_DIR", str(tmp_path / "var"))
    fake = tmp_path / "photo.jpg"
    fake.write_text("这其实是一段文字，不是图片")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(open(png(tmp_path / "whole.png"), "rb").read()[:60])
    gif = tmp_path / "anim.gif"
    Image.new("P", (10, 10)).save(gif, "GIF")
    drafts = {
        "empty": Draft("   ", Audience(community="望园社区")),
        "nobody": Draft("停水", Audience(community="望园社区", building="8")),
        "unknown community": Draft("停水", Audience(community="东湖社区")),
        "unknown building": Draft("停水", Audience(community="望园社区", building="9")),
        "building of volunteers": Draft("集合", Audience("volunteers", "望园社区", "3")),
        "too long": Draft("停" * 1001, Audience(community="望园社区")),
        "in the past": Draft("停水", Audience(community="望园社区"), send_at=clock() - timedelta(hours=1)),
        "not an image": Draft("停水", Audience(community="望园社区"), image_path=str(fake)),
        "truncated image": Draft("停水", Audience(community="望园社区"), image_path=str(truncated)),
        "wrong format": Draft("停水", Audience(community="望园社区"), image_path=str(gif)),
        "huge image": Draft("停水", Audience(community="望园社区"), image_path=png(tmp_path / "big.png", (6000, 10))),
        "missing image": Draft("停水", Audience(community="望园社区"), image_path=str(tmp_path / "nope.png")),
    }
    for attempt in (broadcasts.preview, broadcasts.create):
        arguments = (town, drafts[case], get_directory(), REACH, clock()) if attempt is broadcasts.preview \
            else (town, drafts[case], get_directory(), clock())
        if case == "nobody" and attempt is broadcasts.create:
            continue  # create trusts the preview that came first for who is reached
        with pytest.raises(BroadcastError, match=message):
            attempt(*arguments)
    assert stored(town) == (0, 0)
    assert not (tmp_path / "var" / "broadcasts").exists() or not any((tmp_path / "var" / "broadcasts").iterdir())


def test_an_image_is_stored_by_content_and_goes_only_where_it_can_be_shown(town, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("LINLI_VAR_DIR", str(tmp_path / "var"))
    draft = Draft("停水", Audience(community="望园社区"), image_path=png(tmp_path / "notice.png"))
    shown = broadcasts.preview(town, draft, get_directory(), REACH, clock())
    assert shown.image_channels == ("linli_telegram",)
    assert "图片：发给Telegram的人，其余只收文字" in broadcasts.describe_preview(shown, "Asia/Shanghai")
    view = broadcasts.create(town, draft, get_directory(), clock())
    assert view.image.startswith(str((tmp_path / "var" / "broadcasts").resolve())) and view.image.endswith(".png")
    assert view.image_for("linli_telegram", broadcasts.get_config())
    assert not view.image_for("wechat", broadcasts.get_config())


# -- confirming, sending once, cancelling -----------------------------------------------------------

def draft_of(engine, clock, **audience):
    return broadcasts.create(engine, Draft("明天9点到12点停水", Audience(**audience), author_channel="linli_telegram",
                                           author_id="900"), get_directory(), clock())


def test_only_the_author_confirms_a_fresh_draft_and_only_once(town, clock):
    view = draft_of(town, clock, community="望园社区")
    with pytest.raises(BroadcastError, match="不是您起草的"):
        broadcasts.confirm(town, view.id, "linli_telegram", "901", clock())
    assert broadcasts.confirm(town, view.id, "linli_telegram", "900", clock()).status == "scheduled"
    with pytest.raises(BroadcastError, match="已确认，等待发送，已经确认过了"):
        broadcasts.confirm(town, view.id, "linli_telegram", "900", clock())
    stale = draft_of(town, clock, community="望园社区")
    clock.advance(hours=1)
    with pytest.raises(BroadcastError, match="预览已经过期"):
        broadcasts.confirm(town, stale.id, "linli_telegram", "900", clock())
    with pytest.raises(BroadcastError, match="没有编号为 999 的通知"):
        broadcasts.confirm(town, 999, "linli_telegram", "900", clock())


@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


def scheduled(engine, clock, **audience):
    view = draft_of(engine, clock, **audience)
    return broadcasts.confirm(engine, view.id, "linli_telegram", "900", clock())


def test_runners_racing_for_a_broadcast_send_to_each_person_once(town, clock, rasa):
    view = scheduled(town, clock, community="望园社区")
    results, start = [], threading.Barrier(6)

    def runner():
        start.wait()
        results.append(broadcasts.run(town, view.id, rasa.url, None, clock, reach=REACH))

    threads = [threading.Thread(target=runner) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result.ran for result in results) == 1
    sent_to = sorted((c.output_channel, c.conversation_id) for c in rasa.named("EXTERNAL_broadcast"))
    assert sent_to == sorted([("linli_telegram", "1000"), ("linli_telegram", "1001"), ("linli_telegram", "1002"),
                              ("wechat", "oWX-a"), ("wechat", "oWX-b"), ("wecom", "robot:wangyuan3")])
    assert all(c.entities == {"broadcast_id": str(view.id)} for c in rasa.calls)
    done = broadcasts.get(town, view.id)
    assert done.status == "done" and done.counts == {"sent": 6, "skipped": 3}
    assert broadcasts.run(town, view.id, rasa.url, None, clock, reach=REACH).ran is False
    assert len(rasa.calls) == 6


def test_a_runner_that_died_is_taken_over_without_sending_twice(town, clock, rasa):
    view = scheduled(town, clock, community="望园社区")
    broadcasts._take(town, view.id, "dead-runner", clock(), REACH, broadcasts.get_config())
    assert broadcasts._claim(town, broadcasts.get(town, view.id), "wechat", "oWX-a", clock()) == "claimed"
    assert broadcasts.run(town, view.id, rasa.url, None, clock, reach=REACH).ran is False  # still beating
    clock.advance(minutes=2)
    result = broadcasts.run(town, view.id, rasa.url, None, clock, reach=REACH)
    assert result.ran and result.view.status == "done"
    assert ("wechat", "oWX-a") not in [(c.output_channel, c.conversation_id) for c in rasa.calls]
    assert len(rasa.calls) == 5
    assert broadcasts.report(town, view.id)[("failed", "interrupted", "wechat")] == 1


def test_cancelling_stops_every_runner_and_keeps_what_was_sent(town, clock, rasa):
    view = scheduled(town, clock, community="望园社区")
    broadcasts._take(town, view.id, "runner-a", clock(), REACH, broadcasts.get_config())
    current = broadcasts.get(town, view.id)
    assert broadcasts._claim(town, current, "linli_telegram", "1000", clock()) == "claimed"
    broadcasts._record(town, view.id, "linli_telegram", "1000", "sent", None, None, clock())
    cancelled = broadcasts.cancel(town, view.id, "staff:wang", clock())
    assert cancelled.status == "cancelled" and cancelled.counts == {"sent": 1, "skipped": 8}
    assert broadcasts._claim(town, current, "linli_telegram", "1001", clock()) == "stop"
    with pytest.raises(BroadcastError, match="已经取消，没法取消了"):
        broadcasts.cancel(town, view.id, "staff:wang", clock())
    clock.advance(minutes=5)
    assert broadcasts.run(town, view.id, rasa.url, None, clock, reach=REACH).ran is False
    assert rasa.calls == []


def test_a_resident_who_unsubscribes_while_it_runs_is_skipped(town, clock, rasa):
    from bot.people import set_subscription

    view = scheduled(town, clock, community="望园社区")
    broadcasts._take(town, view.id, "runner-a", clock(), REACH, broadcasts.get_config())
    set_subscription("wechat", "oWX-a", False, engine=town)
    assert broadcasts._claim(town, broadcasts.get(town, view.id), "wechat", "oWX-a", clock()) == "skipped"
    assert broadcasts.report(town, view.id)[("skipped", "unsubscribed", "wechat")] == 1


def test_without_rasa_the_run_pauses_and_nothing_is_lost(town, clock):
    view = scheduled(town, clock, community="望园社区", building="3")
    result = broadcasts.run(town, view.id, "http://127.0.0.1:9", None, clock, reach=REACH)
    assert result.ran and result.paused and result.view.status == "sending"
    assert result.view.counts == {"pending": 6, "skipped": 1}


def test_scheduled_broadcasts_wait_for_their_time(town, clock, rasa):
    view = broadcasts.create(town, Draft("周六上午议事协商会", Audience(community="望园社区", topic="events"),
                                         send_at=clock() + timedelta(hours=2)), get_directory(), clock(),
                             status="scheduled")
    assert broadcasts.run(town, view.id, rasa.url, None, clock, reach=REACH).ran is False
    clock.advance(hours=2)
    assert broadcasts.run(town, view.id, rasa.url, None, clock, reach=REACH).view.counts == \
        {"sent": 5, "skipped": 4}


# -- residents' topics ---------------------------------------------------------------------------------

def test_topics_are_added_one_tap_at_a_time_and_all_resets(town, clock):
    assert broadcasts.choose_topic(town, "linli_telegram", "1000", "safety", clock()) == (True, ["safety"])
    assert broadcasts.choose_topic(town, "linli_telegram", "1000", "outages", clock()) == \
        (True, ["outages", "safety"])
    assert broadcasts.choose_topic(town, "linli_telegram", "1000", None, clock()) == (True, [])
    assert broadcasts.choose_topic(town, "linli_telegram", "1100", "events", clock()) == (False, ["events"])
    with pytest.raises(BroadcastError, match="没有“weather”这类通知"):
        broadcasts.choose_topic(town, "linli_telegram", "1000", "weather", clock())
