"""The weekly and monthly report for staff (`linli report --period`), on SQLite and PostgreSQL.

A month of tickets is seeded through the ticket store with a manual clock: September 2026 is the
report month, 2–31 August the period of the same length before it, and a ticket on either side of
both shows the boundaries hold. Every expected figure below is worked out by hand from that seed.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
import sys
import warnings
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import matplotlib.backends.backend_agg as backend_agg
import pytest
from PIL import Image

from bot.config.directory import get_directory
from bot.config.policy import get_policy
from bot.config.report import ReportConfig
from bot.core.clock import ManualClock
from bot.core.db import session_scope
from bot.core.settings import PROJECT_ROOT, get_settings
from bot.reports import charts, rates, writers
from bot.reports.period import Period, ReportError
from bot.tickets.store import TicketStore
from bot.workflows.followups import FollowUp

ZONE = ZoneInfo("Asia/Shanghai")
ALICE = "oAlice7x2Qm9WpLk3VbN8"  # a WeChat openid: never printed in full
PHONE = "13812345678"
#: The end of 30 September in Beijing: what `--as-of 2026-09-30` means once that day is over.
AS_OF = datetime(2026, 10, 1, tzinfo=ZONE)
THRESHOLDS = {"building": 4, "category": 5, "reporter": 3}

# name: (Beijing time, category, community, building, reporter id, hours until staff start work or None)
SEED = {
    "S1": ("2026-09-01 00:05", "leak", "万柳西园社区", "5", ALICE, 1),
    "S2": ("2026-09-03 09:00", "leak", "万柳西园社区", "5", ALICE, None),
    "S3": ("2026-09-08 10:00", "leak", "万柳西园社区", "5", "bob", 30),
    "S4": ("2026-09-15 14:00", "leak", "万柳西园社区", "5", "carol", 2),
    "S5": ("2026-09-24 08:00", "leak", "万柳西园社区", "5", ALICE, None),
    "S6": ("2026-09-02 11:00", "elevator", "望园社区", "2", "dave", 1),
    "S7": ("2026-09-10 19:00", "elevator", "望园社区", "2", "dave", None),
    "S8": ("2026-09-21 07:30", "elevator", "望园社区", "2", "erin", None),
    "S9": ("2026-09-28 08:00", "elevator", "望园社区", "2", "kim", None),
    "S10": ("2026-09-29 16:00", "elevator", "望园社区", "2", "frank", 1),
    "S11": ("2026-09-12 21:00", "noise", "万柳西园社区", "9", "grace", None),
    "S12": ("2026-09-23 12:00", "noise", "万柳西园社区", "9", "heidi", None),
    "S13": ("2026-09-18 12:00", "corridor_clutter", "望园社区", "6", "ivan", None),
    "S14": ("2026-09-30 23:50", "waterlogging", None, None, "judy", None),
    "P1": ("2026-08-02 00:10", "leak", "万柳西园社区", "5", ALICE, 1),
    "P2": ("2026-08-20 10:00", "leak", "万柳西园社区", "5", "bob", None),
    "P3": ("2026-08-25 09:00", "elevator", "望园社区", "1", "dave", None),
    "P4": ("2026-08-31 23:00", "noise", "望园社区", "3", ALICE, None),
    "O1": ("2026-08-01 23:30", "leak", "万柳西园社区", "5", ALICE, None),  # before both periods
    "O2": ("2026-10-01 00:10", "leak", "万柳西园社区", "5", ALICE, None),  # after the report month
}
DESCRIPTIONS = {"leak": f"屋顶漏水，502室天花板往下滴，电话{PHONE}", "elevator": "电梯停在三楼不动了",
                "noise": "楼下装修太吵", "corridor_clutter": "楼道里堆满了纸箱", "waterlogging": "小区门口积水很深"}
# name: (resolved, follow-up closed, solved, satisfaction); a None answer is a follow-up nobody answered
FOLLOWUPS = {
    "S1": ("2026-09-03 10:00", "2026-09-05 10:00", "solved", "satisfied"),
    "S3": ("2026-09-12 10:00", "2026-09-14 10:00", None, None),
    "S4": ("2026-09-17 10:00", "2026-09-20 10:00", "solved", "basically"),
    "S6": ("2026-09-03 10:00", "2026-09-06 10:00", "unsolved", "dissatisfied"),
    "P1": ("2026-08-04 10:00", "2026-08-10 10:00", "solved", "satisfied"),
}
SEPTEMBER = [name for name in SEED if name.startswith("S")]


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).astimezone(timezone.utc)


def seed(engine) -> dict:
    """The tickets above, their responses, follow-ups and one merge; returns name -> ticket id."""
    clock = ManualClock(beijing("2026-08-01 00:00"))
    store = TicketStore(engine=engine, clock=clock)
    ids = {}
    for name, (at, category, community, building, reporter, _) in sorted(SEED.items(), key=lambda s: s[1][0]):
        clock.set(beijing(at))
        ids[name] = store.create(category=category, description=DESCRIPTIONS[category], reporter_channel="wechat",
                                 reporter_id=reporter, community=community, building=building, room="502",
                                 phone=PHONE).id
    for name, (at, *_, started) in SEED.items():
        if started is not None:
            clock.set(beijing(at) + timedelta(hours=started))
            store.transition(ids[name], "in_progress", "staff:wang")
    for name, (resolved, closed, solved, satisfaction) in FOLLOWUPS.items():
        clock.set(beijing(resolved))
        store.transition(ids[name], "resolved", "staff:wang", "已处理")
        clock.set(beijing(closed))
        answered = solved is not None
        outcome = "closed" if solved == "solved" or not answered else "reopened"
        store.transition(ids[name], outcome, "linli", action=None if answered else "no_answer")
        followup(engine, ids[name], "answered" if answered else "no_answer", beijing(resolved), beijing(closed),
                 solved=solved, satisfaction=satisfaction, outcome=outcome if answered else None)
    clock.set(beijing("2026-09-30 10:00"))
    store.transition(ids["S10"], "resolved", "staff:wang", "已修好")
    followup(engine, ids["S10"], "asked", beijing("2026-09-30 10:00"), None)
    clock.set(beijing("2026-09-21 09:00"))
    store.merge(ids["S8"], ids["S7"], "staff:wang")
    return ids


def followup(engine, ticket_id, status, due, closed, **answer):
    with session_scope(engine) as session:
        session.add(FollowUp(ticket_id=ticket_id, round=1, status=status, channel="wechat", sender_id="x",
                             due_at=due, asked_at=due, answered_at=closed if answer.get("solved") else None,
                             closed_at=closed, **answer))


@pytest.fixture
def seeded(engine):
    return seed(engine)


@pytest.fixture
def config():
    loaded = ReportConfig.load(get_settings().service_path, get_directory().service)
    return dataclasses.replace(loaded, thresholds={**loaded.thresholds, "month": THRESHOLDS})


def make(engine, tmp_path, config, community=None, kind="month", as_of=AS_OF):
    period = Period.ending_by(kind, (as_of - timedelta(seconds=1)).date())
    return writers.make(engine, period, ZONE, as_of, config, get_policy().response_hours, tmp_path / "report",
                              "望园街道", community)


def table_row(summary: str, first_cell: str) -> list[str]:
    [line] = [line for line in summary.splitlines() if line.startswith(f"| {first_cell} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# -- periods ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,as_of,first,last", [
    ("week", "2026-09-27", "2026-09-21", "2026-09-27"),  # a Sunday: that week
    ("week", "2026-09-28", "2026-09-21", "2026-09-27"),  # a Monday: last week
    ("month", "2026-09-30", "2026-09-01", "2026-09-30"),
    ("month", "2026-09-29", "2026-08-01", "2026-08-31"),
    ("month", "2026-03-01", "2026-02-01", "2026-02-28"),
])
def test_the_period_is_the_last_whole_week_or_month(kind, as_of, first, last):
    period = Period.ending_by(kind, datetime.fromisoformat(as_of).date())
    assert (period.first.isoformat(), period.last.isoformat()) == (first, last)
    before = period.previous()
    assert before.days == period.days and before.last == period.first - timedelta(days=1)


# -- figures against the seed ----------------------------------------------------------------------

def test_monthly_summary_matches_the_seeded_month(engine, seeded, config, tmp_path):
    figures, files = make(engine, tmp_path, config)
    summary = (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")

    assert "本周期受理工单 **14** 件，上一周期 4 件（+10）；其中 1 件是同一问题的重复反映" in summary
    assert "2026-09-01 至 2026-09-30，共 30 天" in summary and "上一周期 2026-08-02 至 2026-08-31" in summary
    statuses = {"已派单": "8", "已关闭": "4", "重新处理中": "1", "已办结，待回访": "1", "处理中": "0", "已受理": "0"}
    for label, count in statuses.items():
        assert table_row(summary, label) == [label, count]
    for label, now, before, change in (("漏雨渗水", 5, 2, "+3"), ("电梯故障", 5, 1, "+4"), ("噪音扰民", 2, 1, "+1"),
                                       ("楼道堆物", 1, 0, "+1"), ("积水排水", 1, 0, "+1")):
        assert table_row(summary.split("### 按类别")[1].split("##")[0], label)[:4] == [label, str(now), str(before), change]

    # the three rates are bot.rates' own numbers, and those are what the seed implies
    start, end = Period.ending_by("month", AS_OF.date() - timedelta(days=1)).bounds(ZONE)
    expected = rates.compute(engine, get_policy().response_hours, start, end, AS_OF)
    assert figures.rates == expected
    assert expected.response.counts == {"in_time": 4, "late": 1, "none": 7, "pending": 1}
    assert table_row(summary, "响应率")[:3] == ["响应率", "33.3%", "4/12"]
    assert table_row(summary, "解决率")[:3] == ["解决率", "66.7%", "2/3"]
    assert table_row(summary, "满意率")[:3] == ["满意率", "66.7%", "2/3"]
    assert table_row(summary, "响应率")[4] == "25.0%（1/4）" and table_row(summary, "解决率")[4] == "100.0%（1/1）"
    assert "回访：已答复 3，未应答 1，等待答复 1。" in summary

    overdue = summary.split("## 三、超期未办结工单")[1].split("## 四")[0]
    assert "共 **11** 件" in overdue  # S2 S6 S7 S9 S11 S12 S13, P2 P3 P4, O1
    assert "1天以内 1 件，1–3天 1 件，3–7天 1 件，7–15天 1 件，15天以上 7 件" in overdue
    listed = [line.split("|")[1].strip() for line in overdue.splitlines() if line.startswith("| GD")]
    assert listed[0] == seeded["O1"] and seeded["S12"] in listed and seeded["S5"] not in listed
    assert seeded["O2"] not in listed and seeded["S8"] not in listed  # created after as-of; merged and closed


def test_high_frequency_places_kinds_and_people_with_trends(engine, seeded, config, tmp_path):
    figures, _ = make(engine, tmp_path, config)
    summary = (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")
    places = summary.split("### 高频诉求地")[1].split("###")[0]
    assert "本周期 ≥ 4 件" in places
    assert table_row(places, "万柳西园社区 5号楼") == ["万柳西园社区 5号楼", "5", "2", "+3"]
    assert table_row(places, "望园社区 2号楼") == ["望园社区 2号楼", "5", "0", "+5"]
    assert places.count("| 万柳西园社区 9号楼 |") == 0
    kinds = summary.split("### 高频诉求事")[1].split("###")[0]
    assert [line.split("|")[1].strip() for line in kinds.splitlines() if line.startswith("| ") and "---" not in line] \
        == ["类别", "漏雨渗水", "电梯故障"]
    people = summary.split("### 高频诉求人")[1].split("##")[0]
    [alice] = [line for line in people.splitlines() if line.startswith("| 微信")]
    cells = [cell.strip() for cell in alice.strip("|").split("|")]
    assert cells[:4] == ["微信·oA****N8", "3", "2", "+1"]
    assert cells[4] == "、".join((seeded["S5"], seeded["S2"], seeded["S1"]))
    assert [c.key for c in figures.people.entries] == [("wechat", ALICE)]
    for private in (ALICE, PHONE, "dave"):
        assert private not in summary


def test_ticket_list_is_the_period_masked_and_opens_in_excel(engine, seeded, config, tmp_path):
    make(engine, tmp_path, config)
    path = tmp_path / "report" / "tickets.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = read_csv(path)
    assert [r["工单号"] for r in rows] == [seeded[n] for n in sorted(SEPTEMBER, key=lambda n: SEED[n][0])]
    first = rows[0]
    assert (first["受理时间"], first["类别"], first["楼号"], first["房号"], first["联系电话"], first["反映人"]) == \
        ("2026-09-01 00:05", "漏雨渗水", "5", "5**", "138****5678", "微信·oA****N8")
    assert first["问题描述"] == "屋顶漏水，5**室天花板往下滴，电话138****5678"
    assert {r["合并至"] for r in rows} == {"", seeded["S7"]}
    assert sum(r["是否超期"] == "是" for r in rows) == 7  # S2, S6, S7, S9, S11, S12, S13
    text = raw.decode("utf-8-sig")
    assert PHONE not in text and ALICE not in text and "502" not in text


def test_every_chart_is_a_png_drawn_in_the_cjk_font(engine, seeded, config, tmp_path, monkeypatch):
    used = []
    original = backend_agg.findfont

    def recording(prop, *args, **kwargs):
        used.append(original(prop, *args, **kwargs))
        return used[-1]

    monkeypatch.setattr(backend_agg, "findfont", recording)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r"Glyph \d+ .*missing from current font")
        _, files = make(engine, tmp_path, config)
    pngs = [f for f in files if f.suffix == ".png"]
    assert sorted(f.name for f in pngs) == sorted(charts.CHARTS)
    for chart in pngs:
        assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(chart) as image:
            image.verify()
        with Image.open(chart) as image:
            low, high = image.convert("L").getextrema()
            assert image.width > 600 and image.height > 300 and low < high, chart.name
    assert used and {os.path.basename(f) for f in used} == {charts.CJK_FONT_FILE}


def test_a_font_without_chinese_glyphs_is_refused(engine, seeded, config, tmp_path, monkeypatch):
    """The check above would catch tofu: with matplotlib's own DejaVu Sans a chart is an error."""
    figures, _ = make(engine, tmp_path, config)
    monkeypatch.setattr(charts, "cjk_font", lambda: "DejaVu Sans")
    with pytest.raises(ReportError, match="缺字"):
        charts.render_chart(charts.CHARTS["rates.png"], figures, config, tmp_path / "tofu.png")


def test_community_filter(engine, seeded, config, tmp_path):
    figures, _ = make(engine, tmp_path, config, community="万柳西园社区")
    assert (figures.total, figures.previous_total, figures.overdue_total) == (7, 2, 5)  # S2 S11 S12, P2, O1
    rows = read_csv(tmp_path / "report" / "tickets.csv")
    assert {r["社区"] for r in rows} == {"万柳西园社区"} and len(rows) == 7
    summary = (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("# 望园街道接诉即办月报（万柳西园社区）")
    assert "望园社区 2号楼" not in summary


def test_a_week_with_its_previous_week(engine, seeded, config, tmp_path):
    figures, _ = make(engine, tmp_path, config, kind="week", as_of=datetime(2026, 9, 28, tzinfo=ZONE))
    assert (figures.period.first.isoformat(), figures.total, figures.previous_total) == ("2026-09-21", 3, 2)
    assert figures.daily_categories == {(0, "elevator"): 1, (2, "noise"): 1, (3, "leak"): 1}


def test_a_period_without_tickets_gives_an_empty_report(engine, config, tmp_path):
    figures, files = make(engine, tmp_path, config)
    summary = (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")
    assert "本周期受理工单 **0** 件，上一周期 0 件（0）。" in summary
    assert table_row(summary, "响应率")[:3] == ["响应率", "—", "0/0"]
    assert "没有超期未办结的工单" in summary and "本周期没有达到 4 件的楼栋" in summary
    assert read_csv(tmp_path / "report" / "tickets.csv") == []
    assert len(files) == 2 + len(charts.CHARTS) and all(f.stat().st_size > 0 for f in files)


# -- the command -----------------------------------------------------------------------------------

def linli(url, tmp_path, *args):
    env = {**os.environ, "LINLI_DATABASE_URL": url, "LINLI_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run([sys.executable, "-m", "bot.cli", "report", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_command_writes_the_folder(engine, seeded, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    result = linli(url, tmp_path, "--period", "month", "--as-of", "2026-09-30", "--community", "西园")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "var" / "reports" / "month-2026-09-01-万柳西园社区"
    assert f"报表已生成：{folder}" in result.stdout and "受理工单 7 件" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == sorted(["summary.md", "tickets.csv", *charts.CHARTS])
    assert "本周期受理工单 **7** 件" in (folder / "summary.md").read_text(encoding="utf-8")


def test_command_refuses_bad_input_and_keeps_the_rates_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    for args, message in ((("--period", "week", "--community", "火星"), "没有这个社区"),
                          (("--period", "week", "--as-of", "2026-13-01"), "日期格式不对"),
                          (("--period", "month", "--as-of", "2999-01-31"), "不能晚于今天"),
                          (("--period", "week", "--from", "2026-09-01"), "不用 --from/--to"),
                          (("--period", "week", "--json"), "--json 只用于三率"),
                          (("--as-of", "2026-09-30"), "要和 --period")):
        result = linli(url, tmp_path, *args)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
    assert linli(url, tmp_path, "--period", "year").returncode == 2
    (tmp_path / "taken").write_text("not a folder")
    blocked = linli(url, tmp_path, "--period", "week", "--as-of", "2026-09-27", "--out", str(tmp_path / "taken"))
    assert blocked.returncode == 1 and "没法写入" in blocked.stderr
    empty = linli(url, tmp_path, "--period", "week", "--as-of", "2026-09-27", "--out", str(tmp_path / "w"))
    assert empty.returncode == 0 and "受理工单 0 件" in empty.stdout
    assert "本周期受理工单 **0** 件" in (tmp_path / "w" / "summary.md").read_text(encoding="utf-8")
    rates_table = linli(url, tmp_path, "--from", "2026-09-01", "--to", "2026-09-30")
    assert rates_table.returncode == 0 and "响应率" in rates_table.stdout
