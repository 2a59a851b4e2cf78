"""The weekly report is sent: the Monday digest links staff to last week's figures page and report
files, and the workbench serves those files (written as `linli report week` writes them) to staff of
that scope only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.core.clock import ManualClock
from bot.tickets.store import TicketStore
from bot.workflows import notices
from tests.workbench.conftest import STREET, WANGYUAN, shot, sign_in, start_console

ZONE = ZoneInfo("Asia/Shanghai")
PHONE = "13812345678"


@pytest.mark.parametrize("day, weekly", [(23, True), (24, False)])  # 2026-11-23 is a Monday
def test_the_monday_digest_links_last_week(store, monkeypatch, day, weekly):
    monkeypatch.setenv("LINLI_CONSOLE_URL", "https://linli.example.org/")
    as_of = datetime(2026, 11, day, 8, 30, tzinfo=ZONE).isoformat()
    response, params = notices.staff_notice(store, "digest", "Asia/Shanghai", as_of=as_of)
    assert response == "utter_notice_digest"
    if weekly:
        assert params["weekly"] == ("\n上周（2026-11-16 至 2026-11-22）的数据："
                                    "https://linli.example.org/figures?period=week&as_of=2026-11-22"
                                    "\n上周周报文件：https://linli.example.org/reports/week/2026-11-16")
    else:
        assert params["weekly"] == ""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    console = start_console(tmp_path_factory.mktemp("weekly_console"))
    today = datetime.now(ZONE).date()
    monday = today - timedelta(days=today.isoweekday() - 1 + 7)
    during = datetime.combine(monday + timedelta(days=2), datetime.min.time(), ZONE).replace(hour=10)
    tickets = TicketStore(engine=console.engine, clock=ManualClock(during.astimezone(timezone.utc)))
    tickets.create(reporter_channel="wechat", reporter_id="oWeekly01", category="leak", community="望园社区",
                   building="3", unit="1", room="301", phone=PHONE, description=f"3号楼1单元301屋顶漏水 电话{PHONE}")
    console.extra["monday"] = monday.isoformat()
    yield console
    console.stop()


def test_staff_open_last_weeks_report_files(site, browser):
    monday = site.extra["monday"]
    page = sign_in(browser, site, STREET)
    try:
        page.goto(f"{site.url}/reports/week/{monday}")
        files = page.locator("#report-files li")
        assert {"summary.md", "tickets.csv"} <= set(files.all_inner_texts())
        shot(page, "weekly-report")
    finally:
        page.context.close()
    street = site.client(STREET)
    csv = street.get(f"/reports/week/{monday}/tickets.csv")
    assert csv.status_code == 200 and "138****5678" in csv.text and PHONE not in csv.text
    assert "本周期受理工单 **1** 件" in street.get(f"/reports/week/{monday}/summary.md").text
    assert street.get(f"/reports/week/{monday}/rates.png").headers["content-type"] == "image/png"


def test_report_files_are_for_staff_of_that_scope_and_whole_periods_only(site):
    monday = site.extra["monday"]
    this_monday = (datetime.fromisoformat(monday) + timedelta(days=7)).date().isoformat()
    assert site.client(None).get(f"/reports/week/{monday}").status_code == 401
    wangyuan = site.client(WANGYUAN)
    assert wangyuan.get(f"/reports/week/{monday}").status_code == 200
    assert wangyuan.get(f"/reports/week/{monday}", params={"community": "万柳西园社区"}).status_code == 403
    street = site.client(STREET)
    assert street.get(f"/reports/week/{this_monday}").status_code == 404  # not over yet
    tuesday = (datetime.fromisoformat(monday) + timedelta(days=1)).date().isoformat()
    assert street.get(f"/reports/week/{tuesday}").status_code == 404
    assert street.get(f"/reports/week/{monday}/..%2Fsummary.md").status_code == 404
