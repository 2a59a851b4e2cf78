"""Rider duty nudges: subscriptions keyed by channel + sender, chosen times, quiet hours, pausing,
unsubscribing, and flood-season nudges staff trigger."""
from __future__ import annotations

import pytest

from bot.core.clock import ManualClock
from bot.volunteers import nudges
from bot.volunteers.nudges import NudgeError
from bot.workflows import nudge_jobs
from tests.scheduling import FakeRasa, beijing, start_scheduler


@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


@pytest.fixture
def work(sqlite_engine, rasa):
    scheduler = start_scheduler(sqlite_engine, rasa.url, ManualClock(beijing("2026-11-23 10:00")))  # a Monday
    scheduler.wait_idle()
    yield scheduler.context
    scheduler.stop()


def advance(work, **delta):
    work.clock.advance(**delta)
    work.schedule.wait_idle()


def at(work, local):
    work.clock.set(beijing(local))
    work.schedule.wait_idle()


def subscribe(work, sender="rider1", **options):
    view = nudges.subscribe(work.engine, work.policy, "linli_telegram", sender, work.clock(), **options)
    nudge_jobs.sweep(work)
    return view


def nudged(rasa, sender="rider1"):
    return [c for c in rasa.named("EXTERNAL_patrol_nudge") if c.conversation_id == sender]


def test_nudges_come_at_the_chosen_times_on_the_chosen_days(work, rasa):
    view = subscribe(work, area="望园社区", times=["18点", "8:30"], weekdays=["mon", 3])
    assert (view.times, view.weekdays) == (("08:30", "18:00"), (1, 3))
    at(work, "2026-11-23 17:59")
    assert not nudged(rasa)
    at(work, "2026-11-23 18:00")
    [first] = nudged(rasa)
    assert (first.output_channel, first.entities) == ("linli_telegram", {"nudge": "routine", "community": "望园社区"})
    at(work, "2026-11-24 18:00")  # Tuesday: not chosen
    at(work, "2026-11-25 08:30")  # Wednesday
    assert len(nudged(rasa)) == 2


def test_a_nudge_slot_is_delivered_once_even_if_its_job_runs_twice(work, rasa):
    subscribe(work, times=["18:00"])
    work.clock.set(beijing("2026-11-23 18:00"))
    nudge_jobs.nudge(work, "linli_telegram", "rider1", "18:00")
    nudge_jobs.nudge(work, "linli_telegram", "rider1", "18:00")
    work.schedule.wait_idle()
    assert len(nudged(rasa)) == 1


@pytest.mark.parametrize("times, weekdays, message", [
    (["25:00"], range(1, 8), "不是一个时间"),
    (["18:61"], range(1, 8), "不是一个时间"),
    (["明天"], range(1, 8), "不是一个时间"),
    (["23:30"], range(1, 8), "休息时段"),
    (["7:59"], range(1, 8), "休息时段"),
    ([], range(1, 8), "至少选一个"),
    (["9:00", "12:00", "15:00", "18:00"], range(1, 8), "最多提醒3次"),
    (["18:00"], [8], "星期"),
    (["18:00"], [], "至少选一天"),
])
def test_nonsense_times_are_refused_and_change_nothing(work, times, weekdays, message):
    before = subscribe(work, times=["18:00"])
    with pytest.raises(NudgeError) as error:
        nudges.subscribe(work.engine, work.policy, "linli_telegram", "rider1", work.clock(), times=times,
                         weekdays=weekdays)
    assert message in error.value.user_message
    assert nudges.get(work.engine, "linli_telegram", "rider1") == before


def test_pause_and_resume(work, rasa):
    subscribe(work, times=["18:00"])
    paused = nudges.pause(work.engine, work.policy, "linli_telegram", "rider1", work.clock())
    assert paused.paused_until == beijing("2026-11-30 10:00")
    for day in range(23, 30):
        at(work, f"2026-11-{day} 18:00")
    assert not nudged(rasa)
    at(work, "2026-11-30 18:00")
    assert len(nudged(rasa)) == 1
    with pytest.raises(NudgeError):
        nudges.pause(work.engine, work.policy, "linli_telegram", "rider1", work.clock(), days=0)
    with pytest.raises(NudgeError):
        nudges.pause(work.engine, work.policy, "wechat", "nobody", work.clock())


def test_unsubscribe_stops_nudges_and_removes_their_jobs(work, rasa):
    subscribe(work, times=["9:00", "18:00"])
    assert work.schedule.get("nudge:linli_telegram:rider1:1800") is not None
    nudges.unsubscribe(work.engine, "linli_telegram", "rider1", work.clock())
    at(work, "2026-11-23 18:00")  # before the sweep: the job checks and stays silent
    assert not nudged(rasa)
    nudge_jobs.sweep(work)
    assert work.schedule.get("nudge:linli_telegram:rider1:1800") is None
    assert work.schedule.get("nudge:linli_telegram:rider1:0900") is None


def test_changing_times_replaces_the_jobs(work):
    subscribe(work, times=["9:00", "18:00"])
    subscribe(work, times=["12:00"])
    ids = {j.id for j in work.schedule.jobs() if j.id.startswith("nudge:")}
    assert ids == {"nudge:linli_telegram:rider1:1200"}


def test_flood_nudge_reaches_active_riders_of_the_area_and_waits_for_the_morning(work, rasa):
    subscribe(work, "r-wangyuan", area="望园社区", times=["18:00"])
    subscribe(work, "r-street", times=["18:00"])
    subscribe(work, "r-elsewhere", area="万柳西园社区", times=["18:00"])
    subscribe(work, "r-paused", area="望园社区", times=["18:00"])
    nudges.pause(work.engine, work.policy, "linli_telegram", "r-paused", work.clock())
    work.clock.set(beijing("2026-11-23 23:00"))
    assert nudge_jobs.area_alert(work.schedule, work.engine, work.clock(), "望园社区") == 2
    work.schedule.wait_idle()
    assert not rasa.named("EXTERNAL_patrol_nudge"), "quiet hours: the flood nudge waits"
    at(work, "2026-11-24 08:00")
    assert {(c.conversation_id, c.entities["nudge"], c.entities["community"])
            for c in rasa.named("EXTERNAL_patrol_nudge")} == {
        ("r-wangyuan", "flood", "望园社区"), ("r-street", "flood", "望园社区")}
