"""Broadcasts: the audience and its preview, refusals that store nothing, sending once per person
whoever runs it, cancelling, and residents' topics — on SQLite and PostgreSQL against a stand-in
for Rasa's trigger_intent; then end to end through a real Rasa stack whose channels talk to the
Telegram, WeChat and WeChat Work stand-ins (tests/test_broadcasts_e2e.py is not a thing: the slow
half is at the bottom of this file, marked slow)."""
from __future__ import annotations

import shutil
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.broadcasts import audience as audiences
from bot.broadcasts import compose, fanout, lifecycle, models, topics
from bot.broadcasts.audience import Reach
from bot.broadcasts.compose import Audience, Draft
from bot.broadcasts.errors import BroadcastError
from bot.config import broadcasts
from bot.config.directory import get_directory
from bot.core.db import session_scope
from bot.core.settings import PACKAGE_DATA
from bot.people import profiles
from bot.people.models import Person
from bot.people.subscriptions import is_subscribed
from bot.volunteers.models import Volunteer
from tests.scheduling import FakeRasa

BEIJING = ZoneInfo("Asia/Shanghai")
REACH = Reach(frozenset({"linli_telegram", "wechat", "wecom"}), frozenset({"wangyuan3"}))


def add_person(engine, channel, sender_id, community=None, building=None, subscribed=True, topics=(),
               role="resident", serves=()):
    with session_scope(engine) as session:
        session.add(Person(channel=channel, sender_id=str(sender_id), role=role, community=community,
                           building=building, subscribed=subscribed, topics=list(topics),
                           staff_communities=list(serves), updated_at=datetime.now(timezone.utc)))


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
    return audiences.preview(engine, Draft(text, Audience(**audience)), get_directory(), REACH, now)


def stored(engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        return (session.execute(select(func.count()).select_from(models.Broadcast)).scalar(),
                session.execute(select(func.count()).select_from(models.BroadcastRecipient)).scalar())


# -- audience and preview ----------------------------------------------------------------------------

def test_preview_counts_the_audience_per_channel_and_the_skipped_per_reason(town, clock):
    community = preview(town, clock(), community="望园社区")
    assert community.to_send == {"linli_telegram": 3, "wechat": 2, "wecom": 1}
    assert community.skipped == {"unsubscribed": 1, "channel_unavailable": 2}
    assert community.total == 6

    outages_only_left_out = preview(town, clock(), community="望园", building="三号楼", topic="安全")
    assert outages_only_left_out.to_send == {"linli_telegram": 3, "wechat": 1, "wecom": 1}
    assert outages_only_left_out.skipped == {"unsubscribed": 1, "topic_not_chosen": 1}

    street = preview(town, clock())
    assert street.total == 7 and street.to_send["linli_telegram"] == 4

    lines = audiences.describe_preview(community, "Asia/Shanghai")
    assert lines[0] == "发给：望园社区订阅通知的居民"
    assert lines[1] == "共 6 人：Telegram 3，微信公众号 2，企业微信 1"
    assert lines[2] == "不发 3 人：渠道不能推送 2，未订阅或已退订 1"


def test_community_staff_broadcast_to_the_communities_they_serve(town, clock):
    draft = Draft("停水", Audience(community="望园社区"))
    assert audiences.preview(town, draft, get_directory(), REACH, clock(), serves=("望园社区",)).total == 6
    for audience in (Audience(community="万柳西园社区"), Audience()):
        with pytest.raises(BroadcastError, match="您负责的是望园社区，只能给望园社区发通知"):
            audiences.preview(town, Draft("停水", audience), get_directory(), REACH, clock(), serves=("望园社区",))


def test_volunteers_are_chosen_by_patrol_area_and_status(town, clock):
    area = preview(town, clock(), kind="volunteers", community="望园社区")
    assert area.to_send == {"linli_telegram": 1, "wechat": 1} and area.skipped == {"volunteer_inactive": 1}
    everyone = preview(town, clock(), kind="volunteers")
    assert everyone.total == 3


def test_the_staff_command_is_read_into_an_audience_a_topic_and_a_time(clock):
    now, directory = clock(), get_directory()
    draft = compose.parse_notice("望园社区3号楼 #停水停电 定时 明天8:00 明天9点到12点停水\n请提前储水",
                                     directory, now, BEIJING)
    assert draft.audience == Audience("subscribers", "望园社区", "3", "outages")
    assert draft.text == "明天9点到12点停水\n请提前储水"
    assert draft.send_at.astimezone(BEIJING).strftime("%m-%d %H:%M") == "11-23 08:00"
    assert compose.parse_notice("望园社区 明天9点到12点停水", directory, now, BEIJING) == \
        Draft("明天9点到12点停水", Audience("subscribers", "望园社区"))
    assert compose.parse_notice("望园 定时清理楼道杂物", directory, now, BEIJING).text == "定时清理楼道杂物"
    volunteers = compose.parse_notice("志愿者 西园 今晚暴雨 注意安全", directory, now, BEIJING)
    assert volunteers.audience == Audience("volunteers", "万柳西园社区") and volunteers.text == "今晚暴雨 注意安全"


@pytest.mark.parametrize("command, message", [
    ("东湖社区 明天停水", "没有找到“东湖社区”"),
    ("望园社区 #天气 明天降温", "没有“天气”这类通知"),
    ("3号楼 明天停水", "3号楼是哪个社区的"),
    ("定时 下辈子 停水", "定时后面请写时间"),
])
def test_command_mistakes_are_named(clock, command, message):
    with pytest.raises(BroadcastError, match=message):
        compose.parse_notice(command, get_directory(), clock(), BEIJING)


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
    for attempt in (audiences.preview, lifecycle.create):
        arguments = (town, drafts[case], get_directory(), REACH, clock()) if attempt is audiences.preview \
            else (town, drafts[case], get_directory(), clock())
        if case == "nobody" and attempt is lifecycle.create:
            continue  # create trusts the preview that came first for who is reached
        with pytest.raises(BroadcastError, match=message):
            attempt(*arguments)
    assert stored(town) == (0, 0)
    assert not (tmp_path / "var" / "broadcasts").exists() or not any((tmp_path / "var" / "broadcasts").iterdir())


def test_an_image_is_stored_by_content_and_goes_only_where_it_can_be_shown(town, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("LINLI_VAR_DIR", str(tmp_path / "var"))
    draft = Draft("停水", Audience(community="望园社区"), image_path=png(tmp_path / "notice.png"))
    shown = audiences.preview(town, draft, get_directory(), REACH, clock())
    assert shown.image_channels == ("linli_telegram",)
    assert "图片：发给Telegram的人，其余只收文字" in audiences.describe_preview(shown, "Asia/Shanghai")
    view = lifecycle.create(town, draft, get_directory(), clock())
    assert view.image.startswith(str((tmp_path / "var" / "broadcasts").resolve())) and view.image.endswith(".png")
    assert view.image_for("linli_telegram", broadcasts.get_config())
    assert not view.image_for("wechat", broadcasts.get_config())


def test_the_command_line_says_what_is_wrong_and_stores_nothing(sqlite_engine, tmp_path, monkeypatch, capsys):
    from bot.cli.main import main

    credentials = tmp_path / "credentials.yml"
    credentials.write_text("rest:\nbot.channels.telegram.TelegramInput:\n  token: t\n")
    for name, value in (("DATABASE_URL", str(sqlite_engine.url)), ("VAR_DIR", str(tmp_path / "var")),
                        ("CREDENTIALS", str(credentials))):
        monkeypatch.setenv(f"LINLI_{name}", value)
    add_person(sqlite_engine, "linli_telegram", 1, "望园社区", "2")
    (tmp_path / "notice.jpg").write_text("not a picture")
    for arguments, message in [(["  ", "--community", "望园社区"], "通知内容是空的"),
                               (["停水", "--community", "东湖"], "没有找到“东湖”"),
                               (["停水", "--community", "望园社区", "--building", "8"], "目前没有人能收到"),
                               (["停水", "--to", "volunteers"], "志愿者目前没有人能收到"),
                               (["停水", "--image", str(tmp_path / "notice.jpg")], "不是一张能打开的图片"),
                               (["停水", "--topic", "weather"], "没有“weather”这类通知"),
                               (["停水", "--at", "昨天"], "看不懂定时")]:
        assert main(["broadcast", "send", *arguments, "--yes"]) == 1, arguments
        assert message in capsys.readouterr().err
    monkeypatch.setattr("builtins.input", lambda _prompt: "n")
    assert main(["broadcast", "send", "明天停水", "--community", "望园社区"]) == 0
    out = capsys.readouterr().out
    assert "共 1 人：Telegram 1" in out and "没有发送" in out
    assert main(["broadcast", "cancel", "7"]) == 1 and "没有编号为 7 的通知" in capsys.readouterr().err
    assert stored(sqlite_engine) == (0, 0)


# -- confirming, sending once, cancelling -----------------------------------------------------------

def draft_of(engine, clock, **audience):
    return lifecycle.create(engine, Draft("明天9点到12点停水", Audience(**audience), author_channel="linli_telegram",
                                           author_id="900"), get_directory(), clock())


def test_only_the_author_confirms_a_fresh_draft_and_only_once(town, clock):
    view = draft_of(town, clock, community="望园社区")
    with pytest.raises(BroadcastError, match="不是您起草的"):
        lifecycle.confirm(town, view.id, "linli_telegram", "901", clock())
    assert lifecycle.confirm(town, view.id, "linli_telegram", "900", clock()).status == "scheduled"
    with pytest.raises(BroadcastError, match="通知 .* 已经确认过了"):
        lifecycle.confirm(town, view.id, "linli_telegram", "900", clock())
    stale = draft_of(town, clock, community="望园社区")
    clock.advance(hours=1)
    with pytest.raises(BroadcastError, match="预览已经过期"):
        lifecycle.confirm(town, stale.id, "linli_telegram", "900", clock())
    with pytest.raises(BroadcastError, match="没有编号为 999 的通知"):
        lifecycle.confirm(town, 999, "linli_telegram", "900", clock())


@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


def scheduled(engine, clock, **audience):
    view = draft_of(engine, clock, **audience)
    return lifecycle.confirm(engine, view.id, "linli_telegram", "900", clock())


def test_runners_racing_for_a_broadcast_send_to_each_person_once(town, clock, rasa):
    view = scheduled(town, clock, community="望园社区")
    results, start = [], threading.Barrier(6)

    def runner():
        start.wait()
        results.append(fanout.run(town, view.id, rasa.url, None, clock, reach=REACH))

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
    done = lifecycle.get(town, view.id)
    assert done.status == "done" and done.counts == {"sent": 6, "skipped": 3}
    assert fanout.run(town, view.id, rasa.url, None, clock, reach=REACH).ran is False
    assert len(rasa.calls) == 6


def test_a_runner_that_died_is_taken_over_without_sending_twice(town, clock, rasa):
    view = scheduled(town, clock, community="望园社区")
    fanout._take(town, view.id, "dead-runner", clock(), REACH, broadcasts.get_config())
    assert fanout._claim(town, lifecycle.get(town, view.id), "wechat", "oWX-a", clock()) == "claimed"
    assert fanout.run(town, view.id, rasa.url, None, clock, reach=REACH).ran is False  # still beating
    clock.advance(minutes=2)
    result = fanout.run(town, view.id, rasa.url, None, clock, reach=REACH)
    assert result.ran and result.view.status == "done"
    assert ("wechat", "oWX-a") not in [(c.output_channel, c.conversation_id) for c in rasa.calls]
    assert len(rasa.calls) == 5
    assert lifecycle.report(town, view.id)[("failed", "interrupted", "wechat")] == 1


def test_cancelling_stops_every_runner_and_keeps_what_was_sent(town, clock, rasa):
    view = scheduled(town, clock, community="望园社区")
    fanout._take(town, view.id, "runner-a", clock(), REACH, broadcasts.get_config())
    current = lifecycle.get(town, view.id)
    assert fanout._claim(town, current, "linli_telegram", "1000", clock()) == "claimed"
    fanout._record(town, view.id, "linli_telegram", "1000", "sent", None, None, clock())
    cancelled = lifecycle.cancel(town, view.id, "staff:wang", clock())
    assert cancelled.status == "cancelled" and cancelled.counts == {"sent": 1, "skipped": 8}
    assert fanout._claim(town, current, "linli_telegram", "1001", clock()) == "stop"
    with pytest.raises(BroadcastError, match="已经取消了"):
        lifecycle.cancel(town, view.id, "staff:wang", clock())
    clock.advance(minutes=5)
    assert fanout.run(town, view.id, rasa.url, None, clock, reach=REACH).ran is False
    assert rasa.calls == []


def test_a_resident_who_unsubscribes_while_it_runs_is_skipped(town, clock, rasa):
    from bot.people.subscriptions import set_subscription

    view = scheduled(town, clock, community="望园社区")
    fanout._take(town, view.id, "runner-a", clock(), REACH, broadcasts.get_config())
    set_subscription("wechat", "oWX-a", False, engine=town)
    assert fanout._claim(town, lifecycle.get(town, view.id), "wechat", "oWX-a", clock()) == "skipped"
    assert lifecycle.report(town, view.id)[("skipped", "unsubscribed", "wechat")] == 1


def test_without_rasa_the_run_pauses_and_nothing_is_lost(town, clock):
    view = scheduled(town, clock, community="望园社区", building="3")
    result = fanout.run(town, view.id, "http://127.0.0.1:9", None, clock, reach=REACH)
    assert result.ran and result.paused and result.view.status == "sending"
    assert result.view.counts == {"pending": 6, "skipped": 1}


def test_scheduled_broadcasts_wait_for_their_time(town, clock, rasa):
    view = lifecycle.create(town, Draft("周六上午议事协商会", Audience(community="望园社区", topic="events"),
                                         send_at=clock() + timedelta(hours=2)), get_directory(), clock(),
                             status="scheduled")
    assert fanout.run(town, view.id, rasa.url, None, clock, reach=REACH).ran is False
    clock.advance(hours=2)
    assert fanout.run(town, view.id, rasa.url, None, clock, reach=REACH).view.counts == \
        {"sent": 5, "skipped": 4}


# -- residents' topics ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, named", [
    ("停水停电的通知发我", ["outages"]),
    ("以后停电、防汛预警都告诉我", ["outages", "safety"]),
    ("社区有议事会记得叫我", ["events"]),
    ("停水的发我，别的活动就不用了", ["outages"]),
    ("活动通知别发了", []),
    ("退订活动通知", []),
    ("订阅通知", []),
])
def test_topics_named_in_a_residents_words(text, named):
    assert broadcasts.get_config().topics_named(text) == named


def test_topics_are_added_one_tap_at_a_time_and_all_resets(town, clock):
    assert topics.choose_topic(town, "linli_telegram", "1000", "safety", clock()) == (True, ["safety"])
    assert topics.choose_topic(town, "linli_telegram", "1000", "outages", clock()) == \
        (True, ["outages", "safety"])
    assert topics.choose_topic(town, "linli_telegram", "1000", None, clock()) == (True, [])
    assert topics.choose_topic(town, "linli_telegram", "1100", "events", clock()) == (False, ["events"])
    with pytest.raises(BroadcastError, match="没有“weather”这类通知"):
        topics.choose_topic(town, "linli_telegram", "1000", "weather", clock())


# -- end to end: a real Rasa stack whose channels talk to the platform stand-ins ------------------------

E2E_TELEGRAM_LIMIT = (10, 1.0)  # stricter than Telegram's 30/s, so the limit is reached in seconds
TELEGRAM_CLASS, WECHAT_CLASS = "bot.channels.telegram.TelegramInput", "bot.channels.wechat.WeChatInput"
WECOM_CLASS = "bot.channels.wecom.WeComInput"
ROBOT_KEY = "robot-key-wangyuan3"


class Live:
    def __init__(self, loop, stack, engine, telegram, wechat, wecom, staff_file) -> None:
        self.loop, self.stack, self.engine = loop, stack, engine
        self.telegram, self.wechat, self.wecom = telegram, wechat, wecom
        self.staff_file = staff_file

    def make_staff(self, channel: str, sender_id, communities=()) -> None:
        """Staff are who the staff file lists (the stack's own copy), as `linli staff add` writes it."""
        from bot.config.staff import StaffMember
        from bot.people import roster

        roster.add_staff(StaffMember(channel, str(sender_id), communities=tuple(communities)), self.engine,
                         self.staff_file)

    def cli(self, *args: str) -> int:
        from bot.cli.main import main

        return main(["broadcast", *args])

    def telegram_turn(self, update) -> list[dict]:
        before = len(self.telegram.sent())
        status, _ = self.loop.run(self.telegram.deliver(update))
        assert status == 200
        return self.telegram.sent()[before:]

    def violations(self) -> dict:
        """What the stand-ins refused for breaking a platform limit (must stay empty)."""
        return {"telegram 429": self.telegram.too_many_requests,
                "robot 45009": sum(1 for c in self.wecom.calls if c.errcode == 45009),
                "wechat quota 45047": sum(1 for c in self.wechat.calls if c.errcode == 45047)}


def credentials_for(telegram, wechat, wecom) -> dict:
    return {
        "rest": None,
        TELEGRAM_CLASS: {"token": telegram.token, "secret_token": "broadcast-secret", "base_url": telegram.base_url,
                         "rate_limits": {"overall": list(E2E_TELEGRAM_LIMIT)}},
        WECHAT_CLASS: wechat.credentials(fallback_template={"template_id": "TPL_FOLLOW_UP",
                                                             "data": {"thing1": "{text}", "time2": "{time}"}}),
        WECOM_CLASS: wecom.credentials(robots={"wangyuan3": ROBOT_KEY}),
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    import yaml
    from sqlalchemy import create_engine

    from tests.stack import start_stack
    from tests.standins.server import LoopThread
    from tests.standins.telegram import TelegramLimits, TelegramStandIn
    from tests.standins.wechat import WeChatStandIn
    from tests.standins.wecom import WeComStandIn

    loop = LoopThread()
    telegram = loop.run(TelegramStandIn(limits=TelegramLimits(overall=E2E_TELEGRAM_LIMIT)).start())
    wechat = loop.run(WeChatStandIn().start())
    wecom = loop.run(WeComStandIn(robots={ROBOT_KEY}).start())
    tmp = tmp_path_factory.mktemp("broadcasts_e2e")
    credentials = tmp / "credentials.yml"
    credentials.write_text(yaml.safe_dump(credentials_for(telegram, wechat, wecom), allow_unicode=True))
    staff_file = tmp / "staff.yml"
    shutil.copy(PACKAGE_DATA / "staff.yml", staff_file)
    stack = start_stack(tmp, credentials=str(credentials), staff_file=str(staff_file))
    telegram.webhook = {"url": f"{stack.url}/webhooks/linli_telegram/webhook", "secret_token": "broadcast-secret"}
    environment = pytest.MonkeyPatch()  # this process broadcasts as `linli broadcast` would, beside the stack
    for name in ("LINLI_DATABASE_URL", "LINLI_VAR_DIR", "LINLI_CREDENTIALS", "LINLI_RASA_PORT", "LINLI_ACTION_PORT",
                 "LINLI_STAFF_FILE"):
        environment.setenv(name, stack.env[name])
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    yield Live(loop, stack, engine, telegram, wechat, wecom, staff_file)
    environment.undo()
    stack.stop()
    engine.dispose()
    for standin in (telegram, wechat, wecom):
        loop.run(standin.stop())
    loop.close()


def messages_to(live, chat_id) -> list[str]:
    return live.telegram.texts(chat_id=chat_id)


def latest_broadcast(engine):
    return lifecycle.listing(engine, 1)[0]


@pytest.mark.slow
def test_a_notice_reaches_a_mixed_audience_once_within_the_platforms_limits(live, capsys):
    from tests.standins.wechat import USER_MESSAGE_QUOTA

    private = [810001 + n for n in range(12)]
    for user in private:
        add_person(live.engine, "linli_telegram", user, "望园社区", "2")
    live.telegram.blocked.add(private[-1])
    add_person(live.engine, "linli_telegram", -1009001, "望园社区")  # a residents' group
    add_person(live.engine, "linli_telegram", 810100, "望园社区", "2", subscribed=False)
    add_person(live.engine, "linli_telegram", 810101, "望园社区", "2", topics=["events"])
    add_person(live.engine, "linli_telegram", 810200, "万柳西园社区", "2")
    in_window, outside, gone = ["oBC-in-1", "oBC-in-2", "oBC-in-3"], ["oBC-out-1", "oBC-out-2"], "oBC-gone"
    for user in in_window + outside + [gone]:
        add_person(live.engine, "wechat", user, "望园社区", "1")
    for user in in_window + [gone]:
        live.wechat._grant(user, USER_MESSAGE_QUOTA)  # wrote in the last 48 hours
    live.wechat.subscribed.update(outside)  # follow the account, silent for longer
    live.wechat.subscribed.discard(gone)  # unfollowed since
    add_person(live.engine, "wecom", "robot:wangyuan3", "望园社区")
    add_person(live.engine, "wecom", "robot:unknown", "望园社区")
    add_person(live.engine, "rest", "web-9", "望园社区")

    assert live.cli("send", "明天9点到12点停水，请提前储水", "--community", "望园社区", "--topic", "停水停电", "--yes") == 0
    printed = capsys.readouterr().out
    assert "共 20 人：Telegram 13，微信公众号 6，企业微信 1" in printed
    assert "不发 4 人：渠道不能推送 2" in printed and "未订阅或已退订 1" in printed and "没选这类通知 1" in printed

    notice = "📢 明天9点到12点停水，请提前储水\n—— 望园社区 停水停电通知"
    for chat in private[:-1] + [-1009001]:
        assert messages_to(live, chat) == [notice], chat
    for chat in (810100, 810101, 810200, private[-1]):
        assert messages_to(live, chat) == []
    assert {user: live.wechat.texts(user) for user in in_window} == {user: [notice] for user in in_window}
    templates = live.wechat.sent("message/template/send")
    assert sorted(t["touser"] for t in templates) == outside
    assert templates[0]["data"]["thing1"]["value"].startswith("📢 明天9点到12点停水")
    assert [c.body["text"]["content"] for c in live.wecom.robot_posts(ROBOT_KEY)] == [notice]
    assert live.violations() == {"telegram 429": 0, "robot 45009": 0, "wechat quota 45047": 0}

    view = latest_broadcast(live.engine)
    figures = lifecycle.report(live.engine, view.id)
    assert view.status == "done" and view.counts == {"sent": 18, "failed": 2, "skipped": 4}
    assert figures[("failed", "blocked", "linli_telegram")] == 1
    assert figures[("failed", "not_following", "wechat")] == 1
    assert figures[("skipped", "channel_unavailable", "wecom")] == figures[("skipped", "channel_unavailable", "rest")] == 1
    assert live.cli("show", str(view.id)) == 0
    shown = capsys.readouterr().out
    assert "送达 18 人：Telegram 12，微信公众号 5，企业微信 1" in shown and "失败 2 人" in shown
    assert "对方屏蔽了机器人" in shown and "已取关公众号" in shown


@pytest.mark.slow
def test_an_image_goes_to_telegram_as_a_photo_and_nowhere_as_a_file_path(live, tmp_path, capsys):
    from tests.standins.wechat import USER_MESSAGE_QUOTA

    for user in (830001, 830002):
        add_person(live.engine, "linli_telegram", user, "万柳西园社区", "9")
    add_person(live.engine, "wechat", "oIMG-1", "万柳西园社区", "9")
    live.wechat._grant("oIMG-1", USER_MESSAGE_QUOTA)
    notice = tmp_path / "sandbags.png"
    png(notice, (64, 48))

    assert live.cli("send", "地库入口已备好沙袋，雨天请绕行", "--community", "万柳西园社区", "--building", "9",
                    "--image", str(notice), "--yes") == 0
    assert "图片：发给Telegram的人，其余只收文字" in capsys.readouterr().out
    for user in (830001, 830002):
        assert len(live.telegram.sent("sendPhoto", chat_id=user)) == 1
        assert messages_to(live, user)[0].startswith("📢 地库入口已备好沙袋")
    [text] = live.wechat.texts("oIMG-1")
    assert text.startswith("📢 地库入口已备好沙袋") and ".png" not in text and "/" not in text
    assert live.violations()["telegram 429"] == 0


@pytest.mark.slow
def test_staff_broadcast_from_telegram_preview_confirm_and_report(live):
    from bot.core.clock import ManualClock, utcnow
    from tests.scheduling import start_scheduler, wait_for

    staff, residents = 820001, [820101, 820102, 820103]
    live.make_staff("linli_telegram", staff)
    for user in residents:
        add_person(live.engine, "linli_telegram", user, "望园社区", "6")

    [preview] = live.telegram_turn(live.telegram.message_update(
        staff, "/通知 望园社区6号楼 #停水停电 明天9点到12点停水"))
    assert "发给：望园社区6号楼订阅通知的居民（停水停电）" in preview["text"]
    assert "共 3 人：Telegram 3" in preview["text"] and "明天9点到12点停水" in preview["text"]
    keys = {k["text"]: k["callback_data"] for row in preview["reply_markup"]["inline_keyboard"] for k in row}
    assert set(keys) == {"确认发送", "取消"}
    assert all(messages_to(live, user) == [] for user in residents), "nothing goes out before confirmation"

    [started] = live.telegram_turn(live.telegram.callback_update(staff, keys["确认发送"]))
    assert "开始发送" in started["text"] and "{" not in started["text"], "every placeholder filled"
    [again] = live.telegram_turn(live.telegram.callback_update(staff, keys["确认发送"]))
    assert "已经确认过了" in again["text"]

    scheduler = start_scheduler(live.engine, live.stack.url, ManualClock(utcnow()))
    try:
        wait_for(lambda: any("发送完毕" in t for t in messages_to(live, staff)), timeout=60,
                 message="the report reaching the staff member")
    finally:
        scheduler.stop()
    for user in residents:
        assert messages_to(live, user) == ["📢 明天9点到12点停水\n—— 望园社区6号楼 停水停电通知"]
    report = next(t for t in messages_to(live, staff) if "发送完毕" in t)
    assert "送达 3 人：Telegram 3" in report


@pytest.mark.slow
def test_residents_and_volunteers_are_refused_politely_and_nothing_happens(live):
    add_person(live.engine, "rest", "rider-1", "望园社区", role="volunteer")
    live.make_staff("rest", "staff-1")
    target = lifecycle.create(live.engine, Draft("周末义诊", Audience(community="望园社区"),
                                                  send_at=datetime.now(timezone.utc) + timedelta(days=1)),
                               get_directory(), datetime.now(timezone.utc), status="scheduled")
    before = stored(live.engine)
    for sender in ("resident-1", "rider-1"):
        assert "发通知是社区工作人员用的功能" in live.stack.texts(sender, "/通知 望园社区 明天停水")
        assert "发通知是社区工作人员用的功能" in live.stack.texts(sender, f"/取消通知 {target.id}")
        # A payload never offered to them is read as words (bot.channels.guard): no cancellation.
        assert "已取消" not in live.stack.texts(sender, f'/broadcast_cancel{{"broadcast_id":"{target.id}"}}')
    assert stored(live.engine) == before and lifecycle.get(live.engine, target.id).status == "scheduled"

    live.make_staff("rest", "staff-xiyuan", ["万柳西园社区"])
    assert "只能给万柳西园社区发通知" in live.stack.texts("staff-xiyuan", "/通知 望园社区 明天停水")
    assert "没有找到“东湖社区”" in live.stack.texts("staff-1", "/通知 东湖社区 明天停水")
    assert "通知内容是空的" in live.stack.texts("staff-1", "/通知 望园社区")
    assert "目前没有人能收到" in live.stack.texts("staff-1", "/通知 望园社区8号楼 明天停水")
    assert stored(live.engine) == before
    assert f"通知 {target.id} 已取消" in live.stack.texts("staff-1", f"/取消通知 {target.id}")


@pytest.mark.slow
def test_a_scheduled_broadcast_survives_a_restart_and_is_sent_once(live, capsys):
    from bot.core.clock import ManualClock, utcnow
    from tests.scheduling import start_scheduler

    residents = [840001, 840002]
    for user in residents:
        add_person(live.engine, "linli_telegram", user, "望园社区", "7")
    clock = ManualClock(utcnow())
    first = start_scheduler(live.engine, live.stack.url, clock)
    at = (clock() + timedelta(hours=1)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    assert live.cli("send", "周六上午9点在居委会开议事协商会", "--community", "望园社区", "--building", "7",
                    "--topic", "events", "--at", at, "--yes") == 0
    assert "定在" in capsys.readouterr().out
    view = latest_broadcast(live.engine)
    first.stop()  # the only scheduler goes away before the time comes

    second = start_scheduler(live.engine, live.stack.url, clock)
    clock.advance(hours=1, minutes=1)
    second.wait_idle(60)
    second.stop()
    third = start_scheduler(live.engine, live.stack.url, clock)
    clock.advance(hours=3)
    third.wait_idle(60)
    jobs = [job.id for job in third.jobs() if job.id.startswith(f"broadcast:{view.id}")]
    third.stop()
    assert lifecycle.get(live.engine, view.id).status == "done" and jobs == []
    for user in residents:
        assert messages_to(live, user) == ["📢 周六上午9点在居委会开议事协商会\n—— 望园社区7号楼 活动通知"]


@pytest.mark.slow
def test_cancel_from_another_process_stops_a_running_broadcast(live, capsys):
    import os
    import subprocess
    import sys
    import time

    from tests.scheduling import wait_for

    residents = [850001 + n for n in range(150)]
    for user in residents:
        add_person(live.engine, "linli_telegram", user, "万柳西园社区", "11")
    sending = threading.Thread(target=live.cli, args=("send", "11号楼今晚8点停电检修", "--community", "万柳西园社区",
                                                      "--building", "11", "--yes"))
    sending.start()
    delivered = lambda: sum(len(messages_to(live, user)) for user in residents)  # noqa: E731
    wait_for(lambda: delivered() >= 10, timeout=60, message="the first sends")
    view = latest_broadcast(live.engine)
    cancelled = subprocess.run([sys.executable, "-m", "bot.cli", "broadcast", "cancel", str(view.id)],
                               env={**os.environ}, capture_output=True, text=True, timeout=120)
    at_cancel = delivered()
    sending.join(60)
    time.sleep(1.5)  # anything still to come would arrive within the window
    assert cancelled.returncode == 0 and f"通知 {view.id} 已取消" in cancelled.stdout, cancelled.stderr
    final = lifecycle.get(live.engine, view.id)
    assert final.status == "cancelled"
    assert at_cancel <= delivered() < len(residents)
    assert delivered() - at_cancel <= broadcasts.get_config().channels["linli_telegram"].concurrency
    assert final.counts.get("sent", 0) == delivered() and final.counts["skipped"] == len(residents) - delivered()
    assert all(len(messages_to(live, user)) <= 1 for user in residents)
    assert live.violations()["telegram 429"] == 0


@pytest.mark.slow
def test_subscribing_offers_topic_buttons_and_each_tap_narrows_or_resets(live):
    def buttons(messages):
        return {b["title"]: b["payload"] for m in messages for b in m.get("buttons", [])}

    where = buttons(live.stack.say("topics-1", "订阅通知"))
    assert list(where) == ["万柳西园社区", "望园社区"], "a subscriber's community is asked: its notices must reach them"
    offered = buttons(live.stack.say("topics-1", where["望园社区"]))
    assert list(offered) == ["停水停电", "安全", "活动", "全都要"]
    assert profiles.community_of_person("rest", "topics-1", engine=live.engine) == "望园社区"
    narrowed = live.stack.say("topics-1", offered["安全"])
    assert "以后给您发：安全" in narrowed[0]["text"] and "安全" not in buttons(narrowed)
    assert topics.topics_of(live.engine, "rest", "topics-1") == ["safety"]
    live.stack.say("topics-1", buttons(narrowed)["停水停电"])
    assert topics.topics_of(live.engine, "rest", "topics-1") == ["outages", "safety"]
    assert "各类社区通知都会发给您" in live.stack.texts("topics-1", offered["全都要"])
    assert topics.topics_of(live.engine, "rest", "topics-1") == []


@pytest.mark.slow
def test_topics_typed_or_named_while_subscribing_are_chosen(live):
    """A button's title typed ("只要活动的") is the tap; topics named in the subscribing message
    are chosen at once, and a clause refusing some ("别的就不要了") chooses none of its own."""
    def buttons(messages):
        return {b["title"]: b["payload"] for m in messages for b in m.get("buttons", [])}

    profiles.remember_community("rest", "topics-2", "万柳西园社区", engine=live.engine)
    assert "停水停电" in buttons(live.stack.say("topics-2", "我要订阅通知"))
    assert "以后给您发：活动" in live.stack.texts("topics-2", "只要活动的")
    assert topics.topics_of(live.engine, "rest", "topics-2") == ["events"]

    said = live.stack.texts("topics-3", "有停水停电的通知推给我就行，活动啥的别发了")
    assert "以后给您发：停水停电" in said and "您住哪个社区" in said
    assert topics.topics_of(live.engine, "rest", "topics-3") == ["outages"]
    assert is_subscribed("rest", "topics-3", engine=live.engine)
