"""The `linli` command as a person uses it."""
import json
import subprocess
import sys

from bot.core.settings import PROJECT_ROOT


def linli(*args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=PROJECT_ROOT, input=stdin,
                          capture_output=True, text=True, timeout=600, env=env)


def test_parse_reads_lines_and_prints_one_json_object_each():
    result = linli("parse", "-", stdin="望园东里五号楼3单元楼道里堆满了纸箱子 电话139 1234 5678\n查一下gd202611220007\n")
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert set(first) == {"text", "intent", "entities", "category"}
    assert first["intent"]["name"] == "report_issue" and 0 < first["intent"]["confidence"] <= 1
    assert first["category"] == "corridor_clutter"
    assert {(e["entity"], e["value"]) for e in first["entities"]} == {
        ("community", "望园社区"), ("building", "5"), ("unit", "3"), ("phone", "13912345678")}
    assert second["intent"]["name"] == "check_status" and second["category"] is None
    assert second["entities"] == [{"entity": "ticket_id", "value": "GD202611220007"}]


def test_tickets_list_and_show(tmp_path):
    import os

    env = {**os.environ, "LINLI_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    from bot.core.db import get_engine, init_db
    from bot.tickets.store import TicketStore

    engine = get_engine(env["LINLI_DATABASE_URL"])
    init_db(engine)
    ticket = TicketStore(engine=engine).create(category="elevator", description="电梯不动了", reporter_channel="rest",
                                                reporter_id="cli", community="望园", building="2", unit="1",
                                                phone="13812345678")
    listed = linli("tickets", "list", env=env)
    assert listed.returncode == 0 and ticket.id in listed.stdout
    shown = linli("tickets", "show", ticket.id.lower(), env=env)
    assert shown.returncode == 0 and "电梯不动了" in shown.stdout and "138****5678" in shown.stdout
    assert "13812345678" not in shown.stdout
    missing = linli("tickets", "show", "GD20261122", env=env)
    assert missing.returncode == 1 and "没有这个工单" in missing.stderr
