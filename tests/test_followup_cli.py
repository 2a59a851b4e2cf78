"""Staff at the command line: acting on tickets, seeing what is scheduled, the three rates, nudges."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.core.db import get_engine, init_db
from bot.core.settings import PROJECT_ROOT
from bot.tickets.store import TicketStore


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "LINLI_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "LINLI_STAFF": "wang",
            "LINLI_VAR_DIR": str(tmp_path)}


@pytest.fixture
def ticket(env):
    engine = get_engine(env["LINLI_DATABASE_URL"])
    init_db(engine)
    return TicketStore(engine=engine).create(category="leak", description="屋顶漏水", reporter_channel="rest",
                                             reporter_id="alice", community="万柳西园", building="5")


def linli(env, *args):
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_resolve_schedules_the_followup_and_staff_see_it(env, ticket):
    resolved = linli(env, "tickets", "resolve", ticket.id, "更换了防水层")
    assert resolved.returncode == 0, resolved.stderr
    assert "第1次回访安排在" in resolved.stdout and "staff:wang" in resolved.stdout and "更换了防水层" in resolved.stdout
    listed = linli(env, "schedule", "list", "--kind", "followup")
    assert listed.returncode == 0 and f"followup:{ticket.id}:1:ask" in listed.stdout


def test_bad_staff_commands_say_why_and_change_nothing(env, ticket):
    before = TicketStore(engine=get_engine(env["LINLI_DATABASE_URL"])).get(ticket.id)
    for args, message in ((("tickets", "resolve", "GD209901010001"), "没有这个工单"),
                          (("tickets", "resolve", "GD2026"), "没有这个工单"),
                          (("tickets", "reopen", ticket.id, "还漏"), "不能改成"),
                          (("tickets", "note", ticket.id), "备注不能为空"),
                          (("tickets", "assign", ticket.id, "某公司", "--kind", "friend"), "承办单位不对")):
        result = linli(env, *args)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
    assert TicketStore(engine=get_engine(env["LINLI_DATABASE_URL"])).get(ticket.id) == before


def test_start_note_assign_and_reopen(env, ticket):
    for args in (("start", ticket.id), ("note", ticket.id, "已联系居民，明天上门"),
                 ("assign", ticket.id, "万柳西园社区", "--kind", "community"), ("resolve", ticket.id),
                 ("reopen", ticket.id, "居民来电说还漏")):
        result = linli(env, "tickets", *args)
        assert result.returncode == 0, result.stderr
    history = TicketStore(engine=get_engine(env["LINLI_DATABASE_URL"])).get(ticket.id).history
    assert [e.action for e in history][2:] == ["in_progress", "note", "assigned", "resolved", "reopened"]
    assert history[-1].note.startswith("居民来电说还漏；重新计时")


def test_report_as_table_and_json(env, ticket):
    linli(env, "tickets", "start", ticket.id)
    table = linli(env, "report", "--community", "西园")
    assert table.returncode == 0 and "响应率" in table.stdout and "万柳西园社区" in table.stdout
    figures = json.loads(linli(env, "report", "--json").stdout)
    assert figures["response_rate"]["counts"]["in_time"] == 1 and figures["resolution_rate"]["rate"] is None
    assert set(figures) == {"period", "community", "response_rate", "resolution_rate", "satisfaction_rate",
                            "followups", "proactive"}  # proactive cases counted apart from the rates
    for args, message in ((("--community", "火星"), "没有这个社区"), (("--from", "2026-13-01"), "日期格式不对"),
                          (("--from", "2026-11-30", "--to", "2026-11-01"), "开始日期晚于结束日期")):
        result = linli(env, "report", *args)
        assert result.returncode == 1 and message in result.stderr


def test_nudge_subscriptions_from_the_command_line(env, ticket):
    refused = linli(env, "nudges", "subscribe", "wechat", "rider-openid", "--times", "23:30")
    assert refused.returncode == 1 and "休息时段" in refused.stderr
    made = linli(env, "nudges", "subscribe", "wechat", "rider-openid", "--times", "9:00", "17:30",
                 "--days", "1", "2", "3", "4", "5", "--community", "望园社区")
    assert json.loads(made.stdout)["times"] == ["09:00", "17:30"]
    paused = json.loads(linli(env, "nudges", "pause", "wechat", "rider-openid", "--days-off", "3").stdout)
    assert paused["paused_until"]
    assert linli(env, "nudges", "pause", "wechat").returncode == 1
    assert "0 位骑手" in linli(env, "nudges", "flood").stdout  # the only rider is paused
