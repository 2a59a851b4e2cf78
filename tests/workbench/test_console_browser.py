"""The workbench in a real browser (Debian's Chromium through Playwright) against a running console:
sign in with a one-time link, filter the queue, open a ticket, reassign and resolve it and watch the
history; a resident's follow-up answer arriving on the open page; a broadcast composed, previewed,
sent and its delivery report watched live (deliveries go to a stand-in for Rasa's trigger_intent,
which collects them); a rider volunteer approved; the figures; the misunderstood messages; a phone.
Every page is photographed under results/workbench/."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import expect

from bot.core.db import session_scope
from bot.people.models import Person
from bot.tickets.store import TicketStore
from bot.volunteers.models import Volunteer
from bot.workbench import misunderstood
from bot.workflows import followups
from tests.workbench.conftest import WANGYUAN, ask_followup, shot, sign_in, start_console

PHONE = "13812345678"


@pytest.fixture(scope="module")
def site(tmp_path_factory, rasa):
    tmp = tmp_path_factory.mktemp("console-browser")
    (tmp / "credentials.yml").write_text("rest:\nlinli_telegram:\n  token: x\n", encoding="utf-8")
    console = start_console(tmp, credentials=str(tmp / "credentials.yml"), rasa_url=rasa.url)
    store = TicketStore(engine=console.engine)
    tickets = [
        store.create(category="leak", description=f"屋顶漏水，卧室墙都湿了，电话{PHONE}", reporter_channel="rest",
                     reporter_id="alice", community="望园社区", building="3", unit="2", room="502", phone=PHONE),
        store.create(category="elevator", description="电梯停在三楼不动了", reporter_channel="wechat",
                     reporter_id="oBob000001", community="望园社区", building="2", unit="1"),
        store.create(category="noise", description="楼下装修太吵", reporter_channel="wechat", reporter_id="oCarol0001",
                     community="万柳西园社区", building="9"),
        store.create(category="corridor_clutter", description="楼道里堆满了纸箱", reporter_channel="linli_telegram",
                     reporter_id="4242", community="万柳西园社区", building="5", unit="3", source="volunteer",
                     latitude=39.8812, longitude=116.3105, photos=["AgACAgUAAxkBAAIB"]),
    ]
    now = datetime.now(timezone.utc)
    with session_scope(console.engine) as session:
        for n in range(3):
            session.add(Person(channel="linli_telegram", sender_id=str(7000 + n), role="resident", community="望园社区",
                               building="3", subscribed=True, topics=[], staff_communities=[], updated_at=now))
        session.add(Person(channel="wechat", sender_id="oNotReachable", role="resident", community="望园社区",
                           building="3", subscribed=True, topics=[], staff_communities=[], updated_at=now))
        session.add(Volunteer(channel="linli_telegram", sender_id="9001", name="李师傅", phone="13700001234",
                              platform="美团", areas=["望园社区"], nudge_times=["17:30"], status="pending", consent=True,
                              created_at=now, updated_at=now))
    console.extra.update(store=store, tickets=[t.id for t in tickets])
    yield console
    console.stop()


@pytest.fixture
def page(browser, site):
    page = sign_in(browser, site)
    yield page
    page.context.close()


def test_staff_sign_in_filter_open_reassign_and_resolve(site, page, tmp_path):
    leak, elevator, noise, clutter = site.extra["tickets"]
    expect(page.locator("h1")).to_contain_text("共 4 件")
    expect(page.locator("table.queue")).to_contain_text("138****5678")
    expect(page.locator("table.queue")).not_to_contain_text(PHONE)
    shot(page, "queue")

    page.select_option("select[name=community]", "望园社区")  # the filters apply as they change
    page.wait_for_url(re.compile(r"community="))
    expect(page.locator("h1")).to_contain_text("共 2 件")
    expect(page.locator("select[name=category] option", has_text="电梯故障（1）")).to_have_count(1)
    page.select_option("select[name=category]", "leak")
    page.wait_for_url(re.compile(r"category=leak"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("select[name=status] option", has_text="已派单（1）")).to_have_count(1)
    shot(page, "queue-filtered")

    page.click(f"a:text('{leak}')")
    page.wait_for_url(f"{site.url}/tickets/{leak}")
    expect(page.locator("#phone")).to_have_text(PHONE)
    expect(page.locator("#handler")).to_contain_text("金管家物业")
    expect(page.locator(".a-reopen button")).to_be_disabled()
    expect(page.locator(".a-reopen .reason")).to_have_text("工单现在是“已派单”，不能重办")
    expect(page.locator(".a-accept button")).to_be_disabled()  # street staff are not 金管家物业's contacts
    expect(page.locator(".a-accept .reason")).to_have_text("只有承办单位（金管家物业）的接单人能签收")

    page.fill(".a-assign input[name=text]", "首华物业")
    page.click(".a-assign button")
    expect(page.locator("#done")).to_have_text("已改派")
    expect(page.locator("#handler")).to_contain_text("首华物业")
    expect(page.locator(".history li").first).to_contain_text("已改派")
    expect(page.locator(".history li").first).to_contain_text("金管家物业 → 首华物业")

    page.fill(".a-assign input[name=text]", "没有这个单位")
    page.click(".a-assign button")
    expect(page.locator("#error")).to_contain_text("目录里没有“没有这个单位”这个承办单位")

    photo = tmp_path / "fixed.png"
    Image.new("RGB", (64, 48), (60, 160, 90)).save(photo)
    page.fill(".a-resolve textarea", "已更换屋面防水卷材")
    page.set_input_files(".a-resolve input[type=file]", str(photo))
    page.click(".a-resolve button")
    expect(page.locator("#done")).to_contain_text("已办结")
    expect(page.locator("h1 .status")).to_have_text("已办结，待回访")
    expect(page.locator(".history li").first).to_contain_text("已更换屋面防水卷材")
    expect(page.locator(".photos img")).to_have_count(1)
    expect(page.locator("#followups")).to_contain_text("待回访")
    expect(page.locator(".a-resolve button")).to_be_disabled()
    assert site.extra["store"].get(leak).history[-1].actor == "staff:wecom:wangyuan-street-duty"
    shot(page, "ticket-resolved")


def test_a_residents_follow_up_answer_shows_on_the_open_ticket(site, page, rasa):
    store: TicketStore = site.extra["store"]
    _, elevator, _, _ = site.extra["tickets"]
    page.goto(f"{site.url}/tickets/{elevator}")
    page.click(".a-resolve button")
    expect(page.locator("#followups")).to_contain_text("待回访")
    ask_followup(site.engine, rasa.url, elevator, 1)
    expect(page.locator("#live")).to_be_visible(timeout=15_000)
    page.click("#reload")
    expect(page.locator(".followup[data-round='1']")).to_contain_text("已发出，等待答复")

    followups.record_answer(store, elevator, "wechat", "oBob000001", "solved")
    followups.record_answer(store, elevator, "wechat", "oBob000001", "satisfied")
    expect(page.locator("#live")).to_be_visible(timeout=15_000)
    page.click("#reload")
    row = page.locator(".followup[data-round='1']")
    expect(row).to_contain_text("已解决")
    expect(row).to_contain_text("满意")
    expect(row).to_contain_text("居民认可，工单关闭")
    expect(page.locator("h1 .status")).to_have_text("已关闭")
    expect(page.locator(".history li").first).to_contain_text("第1次回访：已解决，满意")
    expect(page.locator(".a-reopen button")).to_be_enabled()
    shot(page, "ticket-followup-answered")


def test_compose_a_broadcast_preview_it_and_watch_its_delivery_report(site, page, rasa):
    page.goto(f"{site.url}/broadcasts")
    page.fill("textarea[name=text]", "明天9点到12点停水，请提前储水。")
    page.select_option("select[name=community]", "望园社区")
    page.fill("input[name=building]", "3")
    page.click("#compose button[type=submit]")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("发给：望园社区3号楼订阅通知的居民")
    expect(preview).to_contain_text("共 3 人：Telegram 3")
    expect(preview).to_contain_text("不发 1 人：渠道不能推送 1")
    shot(page, "broadcast-preview")
    before = len(rasa.named("EXTERNAL_broadcast"))
    page.click("#send")
    page.wait_for_url(re.compile(r"/broadcasts/\d+$"))
    expect(page.locator("#b-status")).to_have_text("已发完", timeout=30_000)
    expect(page.locator("#sent")).to_have_text("3")
    expect(page.locator("#skipped")).to_have_text("1")
    expect(page.locator("#lines")).to_contain_text("送达 3 人：Telegram 3")
    expect(page.locator("#cancel")).to_be_hidden()
    delivered = rasa.named("EXTERNAL_broadcast")[before:]
    assert sorted(c.conversation_id for c in delivered) == ["7000", "7001", "7002"]
    assert {c.output_channel for c in delivered} == {"linli_telegram"}
    shot(page, "broadcast-report")

    page.goto(f"{site.url}/broadcasts")
    page.fill("textarea[name=text]", "周六上午在社区活动室开议事协商会。")
    page.select_option("select[name=community]", "望园社区")
    page.fill("input[name=send_at]", "2099-01-01T23:30")
    page.click("#compose button[type=submit]")
    expect(page.locator("#quiet")).to_contain_text("夜间免打扰时段（22:00–08:00）")
    page.click("#send")
    expect(page.locator("#b-status")).to_have_text("待发送")
    page.click("#cancel button")
    expect(page.locator("#b-status")).to_have_text("已取消")


def test_a_rider_volunteer_is_approved(site, page):
    page.goto(f"{site.url}/volunteers?status=pending")
    row = page.locator("tr[data-rider='linli_telegram:9001']")
    expect(row).to_contain_text("李师傅")
    expect(row).to_contain_text("137****1234")
    shot(page, "volunteers-pending")
    row.locator("button", has_text="批准").click()
    expect(page.locator("#done")).to_have_text("已批准：李师傅")
    page.goto(f"{site.url}/volunteers?status=active")
    expect(page.locator("tr[data-rider='linli_telegram:9001']")).to_contain_text("已通过")
    expect(page.locator("#points")).to_contain_text("李师傅")
    shot(page, "volunteers")
    page.locator("tr[data-rider='linli_telegram:9001'] button", has_text="暂停").click()
    expect(page.locator("#done")).to_have_text("已暂停：李师傅")
    page.goto(f"{site.url}/volunteers?status=paused")
    expect(page.locator("tr[data-rider='linli_telegram:9001']")).to_contain_text("已暂停")


def test_a_riders_report_shows_its_place_and_its_photo_id(site, page):
    clutter = site.extra["tickets"][3]
    page.goto(f"{site.url}/tickets/{clutter}")
    expect(page.locator("#description")).to_contain_text("楼道里堆满了纸箱")
    expect(page.locator(".photos")).to_contain_text("AgACAgUAAxkBAAIB")  # a Telegram file id: shown, not fetched
    expect(page.locator("text=坐标：39.881200, 116.310500")).to_be_visible()


def test_the_figures_page(site, page):
    today = datetime.now(timezone.utc).astimezone(ZoneInfo("Asia/Shanghai")).date()  # the street's day
    page.goto(f"{site.url}/figures?period=custom&from={(today - timedelta(days=3)).isoformat()}&to={today.isoformat()}")
    expect(page.locator("#rates")).to_contain_text("响应率")
    expect(page.locator("#daily h2")).to_contain_text("共 4 件")
    expect(page.locator("#heatmap svg")).to_be_visible()
    shot(page, "figures")
    page.select_option("select[name=community]", "望园社区")
    page.click("#period button[type=submit]")
    expect(page.locator("h1")).to_contain_text("望园社区")
    expect(page.locator("#daily h2")).to_contain_text("共 2 件")
    page.select_option("select[name=period]", "this_week")
    page.click("#period button[type=submit]")
    expect(page.locator("#daily h2")).to_contain_text("共 2 件")  # the tickets are this week's
    expect(page.locator("h1")).to_contain_text(today.isoformat())


def test_misunderstood_messages_are_labelled(site, page):
    first = misunderstood.record_misunderstood("wechat", "oDave000001", f"房顶那块儿老往下掉渣 我电话{PHONE}",
                                               "nlu_fallback", "other", 0.31, engine=site.engine)
    page.goto(f"{site.url}/misunderstood")
    row = page.locator(f"tr[data-message='{first}']")
    expect(row).to_contain_text("138****5678")
    expect(row).not_to_contain_text(PHONE)
    row.locator("select[name=intent]").select_option("report_issue")
    row.locator("select[name=category]").select_option("leak")
    row.locator("button").click()
    page.goto(f"{site.url}/misunderstood?status=labelled")
    expect(page.locator(f"tr[data-message='{first}']")).to_contain_text("report_issue / 漏雨渗水")
    shot(page, "misunderstood")


def test_a_community_staff_member_on_a_phone(browser, site):
    page = sign_in(browser, site, WANGYUAN, viewport=(390, 844))
    try:
        expect(page.locator("h1")).to_contain_text("共 2 件")  # 望园社区's tickets only
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        shot(page, "queue-phone")
        page.goto(f"{site.url}/tickets/{site.extra['tickets'][0]}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        shot(page, "ticket-phone")
        page.goto(f"{site.url}/figures")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        shot(page, "figures-phone")
        page.goto(f"{site.url}/tickets/{site.extra['tickets'][3]}")  # 万柳西园社区's: not for 望园社区's staff
        expect(page.locator(".message-text")).to_contain_text("不在您负责的范围内")
    finally:
        page.context.close()


def test_the_audit_log_shows_what_was_done_here(site, page):
    page.goto(f"{site.url}/audit")
    table = page.locator("#audit")
    expect(table).to_contain_text("登录")
    expect(table).to_contain_text("改派")
    expect(table).to_contain_text("发通知")
    expect(table).to_contain_text("127.0.0.1")
    shot(page, "audit")
