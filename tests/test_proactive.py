"""未诉先办: proactive cases proposed from last season's repeats, approved, dispatched, riders nudged;
and the area nudges staff send by hand (`linli nudges flood`)."""
from __future__ import annotations

import os

from bot.core.db import get_engine, init_db
from bot.scheduling.scheduler import Scheduler
from bot.scheduling.settings import SchedulerSettings
from bot.volunteers import nudges
from bot.config.policy import get_policy
from bot.core.clock import utcnow
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
