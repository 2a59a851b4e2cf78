"""未诉先办: proactive cases proposed from last season's repeats, approved, dispatched, riders nudged;
and the area nudges staff send by hand (`linli nudges flood`)."""
from __future__ import annotations

import os

import pytest

from bot.config.policy import get_policy
from bot.core.clock import ManualClock, utcnow
from bot.core.db import get_engine, init_db
from bot.people.roster import Staff
from bot.proactive import cases
from bot.reports import rates
from bot.scheduling.scheduler import Scheduler
from bot.scheduling.settings import SchedulerSettings
from bot.staff.commands import run_command
from bot.volunteers import nudges
from tests.scheduling import FakeRasa, beijing, start_scheduler
from tests.test_cli import linli


def test_flood_accepts_a_community_alias_and_refuses_an_unknown_one_without_a_traceback(tmp_path):
    env = {**os.environ, "LINLI_DATABASE_URL": f"sqlite:///{tmp_path / 'flood.db'}", "LINLI_VAR_DIR": str(tmp_path)}
    engine = get_engine(env["LINLI_DATABASE_URL"])
    init_db(engine)
    nudges.subscribe(engine, get_policy(), "linli_telegram", "rider-wy", utcnow(), area="望园社区")
    nudges.subscribe(engine, get_policy(), "linli_telegram", "rider-xy", utcnow(), area="万柳西园社区")

    sent = linli("nudges", "flood", "--community", "望园", env=env)
    assert sent.returncode == 0 and "Traceback" not in sent.stderr, sent.stderr[-2000:]
    assert "望园社区" in sent.stdout and "1 位骑手" in sent.stdout
    scheduler = Scheduler(SchedulerSettings.from_env(), engine=engine).open()
    try:
        [job] = [j for j in scheduler.jobs() if j.id.startswith("flood:")]
    finally:
        scheduler.stop(release=False)
    assert (job.kwargs["sender_id"], job.kwargs["community"]) == ("rider-wy", "望园社区"), "the job is kept"

    unknown = linli("nudges", "flood", "--community", "火星小区", env=env)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert "没有“火星小区”这个社区" in unknown.stderr


# -- proposals, approval, dispatch -------------------------------------------------------------



@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


@pytest.fixture
def work(engine, rasa):
    scheduler = start_scheduler(engine, rasa.url, ManualClock(beijing("2025-07-01 10:00")))
    scheduler.wait_idle()
    yield scheduler.context
    scheduler.stop()


def _last_season(work):
    """Last rain season: three leaks at 望园 5号楼, one waterlogging at 万柳西园 9号楼 (below the
    threshold), and a leak in winter (another season)."""
    store = work.tickets
    for day, category, community, building in [("2025-06-10", "leak", "望园社区", "5"), ("2025-07-20", "leak", "望园社区", "5"),
                                               ("2025-08-02", "leak", "望园社区", "5"),
                                               ("2025-07-03", "waterlogging", "万柳西园社区", "9"),
                                               ("2025-12-01", "leak", "万柳西园社区", "9")]:
        work.clock.set(beijing(f"{day} 10:00"))
        store.create(category=category, description="下雨就漏", reporter_channel="wechat", reporter_id=f"o-{day}",
                     community=community, building=building)


def test_a_proactive_case_is_proposed_from_last_season_approved_and_dispatched(work, rasa, engine):
    _last_season(work)
    store = work.tickets
    nudges.subscribe(engine, get_policy(), "linli_telegram", "rider-wy", store.clock(), area="望园")
    nudges.subscribe(engine, get_policy(), "linli_telegram", "rider-xy", store.clock(), area="万柳西园社区")
    work.clock.set(beijing("2026-04-01 09:00"))
    assert cases.propose(store, store.clock()) == [], "two months ahead: too early"
    work.clock.set(beijing("2026-05-20 09:00"))
    [case] = cases.propose(store, store.clock())
    assert (case.season, case.season_start, case.community, case.building, case.category, case.repeats) == (
        "rain", "2026-06-01", "望园社区", "5", "leak", 3)
    assert [c.id for c in cases.propose(store, store.clock())] == [case.id], "proposing again adds nothing"

    office = Staff("wecom", "wangyuan-office", ("望园社区",))
    response, listed = run_command(store, office, "proactive", "", private=True)
    assert response == "utter_staff_proactive_list" and "望园社区5号楼" in listed["lines"]
    assert listed["buttons"] == [{"title": f"批准 #{case.id}", "payload": f'/proactive_approve{{"proactive_id":"{case.id}"}}'}]
    with pytest.raises(cases.CaseError, match="不在您负责的社区"):
        run_command(store, Staff("wecom", "wanliuxiyuan-office", ("万柳西园社区",)), "proactive", f"批准 {case.id}", True)

    response, approved = run_command(store, office, "proactive", f"批准 {case.id}", private=True)
    assert response == "utter_staff_proactive_approved" and approved["riders"] == 1
    ticket = store.get(approved["ticket_id"])
    assert (ticket.source, ticket.category, ticket.community, ticket.building, ticket.status) == (
        "proactive", "leak", "望园社区", "5", "dispatched")
    assert ticket.handler_name == approved["handler"] and ticket.handler_name
    assert (ticket.reporter_channel, ticket.reporter_id) == ("wecom", "wangyuan-office"), "the office follows it up"
    assert [e.action for e in ticket.history][:2] == ["created", "dispatched"]
    with pytest.raises(cases.CaseError, match="已经批准过了"):
        run_command(store, office, "proactive", f"批准 {case.id}", private=True)

    work.clock.set(beijing("2026-05-20 10:00"))
    work.schedule.wait_idle()
    [nudge] = [c for c in rasa.named("EXTERNAL_patrol_nudge") if c.entities.get("nudge") == "proactive"]
    assert nudge.conversation_id == "rider-wy" and nudge.entities["nudge_note"] == "5号楼屋顶排水和防水"

    start, end = beijing("2026-05-01 00:00"), beijing("2026-06-01 00:00")
    report = rates.compute(engine, get_policy().response_hours, start, end, store.clock())
    assert report.proactive == {"cases": 1, "done": 0}
    assert sum(report.response.counts.values()) == 0, "a proactive case is in none of the three rates"
    work.schedule.wait_idle()


def test_the_daily_look_ahead_tells_each_communitys_staff_once(work, rasa):
    from bot.proactive import jobs
    from bot.proactive.notices import proactive_notice

    _last_season(work)
    work.clock.set(beijing("2026-05-25 09:00"))
    assert jobs.propose_daily(work) == 1 and jobs.propose_daily(work) == 1
    [notice] = [c for c in rasa.named("EXTERNAL_staff_notice") if c.entities.get("notice") == "proactive"]
    assert notice.conversation_id == "wangyuan-office"
    response, params = proactive_notice(work.tickets, notice.entities["season"], notice.entities["season_start"],
                                        notice.entities["community"])
    assert response == "utter_notice_proactive" and params["season"] == "汛期" and params["starts"] == "6月1日"
