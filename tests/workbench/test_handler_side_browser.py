"""The handler's side of the workbench in a real browser (Debian's Chromium through Playwright): a
property company's contact signs for a ticket, asks for more days and reports back with a photo;
the community's staff approve the extension; the community office, handling an unmanaged building
itself, cannot approve its own request (the street does); the call-back queue marked done, and the
resident told through the scheduler's job. Every page is photographed under results/workbench/."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image
from playwright.sync_api import expect

from bot.callbacks import store as callbacks
from bot.callbacks.models import CallbackRequest
from bot.core.db import session_scope
from bot.tickets.store import TicketStore
from bot.workflows import callbacks as callback_jobs
from tests.workbench.conftest import SHOUHUA, STREET, WANGYUAN, XIYUAN, run_job, shot, sign_in, start_console

CALLER = "13811112222"


@pytest.fixture(scope="module")
def site(tmp_path_factory, rasa):
    tmp = tmp_path_factory.mktemp("handler-side")
    console = start_console(tmp, rasa_url=rasa.url)
    store = TicketStore(engine=console.engine)
    roof = store.create(category="leak", description="5号楼顶层漏水", reporter_channel="wechat", reporter_id="oRoof01",
                        community="万柳西园社区", building="5", unit="1", room="601", phone="13900005555")
    unmanaged = store.create(category="leak", description="7号楼楼道顶棚渗水", reporter_channel="wechat",
                             reporter_id="oSeven01", community="望园社区", building="7", unit="2")
    linked, _ = callbacks.request(store, "wechat", "oSeven01", phone=CALLER, preferred_time="下午")
    late_store = TicketStore(engine=console.engine, clock=lambda: datetime.now(timezone.utc) - timedelta(days=3))
    late, _ = callbacks.request(late_store, "wechat", "oLate01", phone="13822223333", community="望园社区")
    theirs, _ = callbacks.request(store, "wechat", "oWest01", phone="13833334444", community="万柳西园社区")
    console.extra.update(store=store, roof=roof.id, unmanaged=unmanaged.id, linked=linked.id, late=late.id,
                         theirs=theirs.id)
    yield console
    console.stop()


def test_a_handler_signs_for_asks_for_days_and_reports_back_with_a_photo(browser, site, tmp_path):
    store: TicketStore = site.extra["store"]
    roof = site.extra["roof"]
    deadline = store.get(roof).deadline
    page = sign_in(browser, site, SHOUHUA, role="handler")
    try:
        expect(page.locator("header nav a", has_text="回电")).to_have_count(0)  # call-backs are the community's
        page.goto(f"{site.url}/tickets/{roof}")
        expect(page.locator(".a-extension_decide .reason")).to_have_text("没有待审批的延期申请")
        page.click(".a-accept button")
        expect(page.locator("#done")).to_have_text("已签收，居民会知道有人接单了")
        expect(page.locator("h1 .status")).to_have_text("处理中")
        expect(page.locator(".history li").first).to_contain_text("首华物业（客服值班）")  # named, not masked
        expect(page.locator(".a-accept button")).to_be_disabled()
        expect(page.locator(".a-accept .reason")).to_have_text("首华物业已经签收了")
        assert [e.action for e in store.get(roof).history].count("accepted") == 1

        page.fill(".a-extension input[name=days]", "3")
        page.fill(".a-extension textarea", "需要等防水卷材到货")
        page.click(".a-extension button")
        expect(page.locator("#done")).to_have_text("延期申请已提交，等社区答复")
        expect(page.locator("#pending-extension")).to_have_text("首华物业申请延期3天：需要等防水卷材到货")
        expect(page.locator(".a-extension button")).to_be_disabled()
        expect(page.locator(".a-extension .reason")).to_have_text("已经申请过延期，正在等社区答复")
        expect(page.locator(".a-extension_decide button").first).to_be_disabled()
        expect(page.locator(".a-extension_decide .reason")).to_have_text("只有万柳西园社区的工作人员能审批延期")
        shot(page, "ticket-handler-extension")
    finally:
        page.context.close()

    staff = sign_in(browser, site, XIYUAN)
    try:
        staff.goto(f"{site.url}/tickets/{roof}")
        expect(staff.locator(".a-accept button")).to_be_disabled()
        expect(staff.locator(".a-accept .reason")).to_have_text("只有承办单位（首华物业）的接单人能签收")
        staff.click(".a-extension_decide button[value=approve]")
        expect(staff.locator("#done")).to_have_text("延期申请已答复")
        expect(staff.locator(".history li").first).to_contain_text("同意首华物业延期3天")
        expect(staff.locator("#pending-extension")).to_have_count(0)
        assert store.get(roof).deadline == deadline + timedelta(days=3)
        shot(staff, "ticket-extension-approved")
    finally:
        staff.context.close()

    page = sign_in(browser, site, SHOUHUA, role="handler")
    try:
        page.goto(f"{site.url}/tickets/{roof}")
        fake = tmp_path / "not-a-photo.png"
        fake.write_bytes(b"just words, not a picture")
        page.set_input_files(".a-resolve input[type=file]", str(fake))
        page.click(".a-resolve button")
        expect(page.locator("#error")).to_have_text("照片只能是 JPG 或 PNG，且小于 5MB。")
        assert store.get(roof).status == "in_progress"

        photo = tmp_path / "fixed.jpg"
        Image.new("RGB", (80, 60), (200, 120, 40)).save(photo, "JPEG")
        page.fill(".a-resolve textarea", "已更换顶层防水卷材")
        page.set_input_files(".a-resolve input[type=file]", str(photo))
        page.click(".a-resolve button")
        expect(page.locator("#done")).to_contain_text("已办结")
        image = page.locator(".photos .report-photo img")
        expect(image).to_have_count(1)
        page.wait_for_function("document.querySelector('.report-photo img').naturalWidth === 80")
        shot(page, "ticket-handler-resolved-photo")
    finally:
        page.context.close()
    steps = [(e.action, e.actor) for e in store.get(roof).history]
    assert steps[-2:] == [("handler_photos", "handler:wecom:shouhua-desk"), ("resolved", "handler:wecom:shouhua-desk")]
    assert re.fullmatch(r"首华物业（客服值班）现场照片：workbench:[a-p]{32}\.jpg", store.get(roof).history[-2].note)


def test_the_community_office_handling_a_building_itself_cannot_approve_its_own_extension(browser, site):
    store: TicketStore = site.extra["store"]
    ticket = site.extra["unmanaged"]
    deadline = store.get(ticket).deadline
    page = sign_in(browser, site, WANGYUAN)  # staff of 望园社区, and its office is the building's handler
    try:
        page.goto(f"{site.url}/tickets/{ticket}")
        expect(page.locator("#handler")).to_contain_text("望园社区")
        page.click(".a-accept button")
        expect(page.locator("#done")).to_have_text("已签收，居民会知道有人接单了")
        page.fill(".a-extension input[name=days]", "2")
        page.fill(".a-extension textarea", "要等产权单位确认")
        page.click(".a-extension button")
        expect(page.locator("#pending-extension")).to_contain_text("望园社区申请延期2天")
        expect(page.locator(".a-extension_decide button[value=approve]")).to_be_disabled()
        expect(page.locator(".a-extension_decide .reason")).to_have_text("自己单位的延期申请，请由社区其他同事或街道审批")
    finally:
        page.context.close()
    street = sign_in(browser, site, STREET)
    try:
        street.goto(f"{site.url}/tickets/{ticket}")
        street.click(".a-extension_decide button[value=refuse]")
        expect(street.locator("#done")).to_have_text("延期申请已答复")
        expect(street.locator(".history li").first).to_contain_text("不同意望园社区延期")
        assert store.get(ticket).deadline == deadline
    finally:
        street.context.close()


def test_the_call_back_queue_is_worked_and_the_resident_told(browser, site, rasa):
    store: TicketStore = site.extra["store"]
    linked, late, theirs = site.extra["linked"], site.extra["late"], site.extra["theirs"]
    page = sign_in(browser, site, WANGYUAN)
    try:
        page.click("header nav a:text('回电')")
        page.wait_for_url(f"{site.url}/callbacks")
        expect(page.locator(f"tr[data-callback='{linked}']")).to_contain_text(CALLER)  # 望园社区's own: to call
        expect(page.locator(f"tr[data-callback='{theirs}']")).to_have_count(0)
        row = page.locator(f"tr[data-callback='{late}']")
        expect(row.locator(".late")).to_have_text("已超时")
        expect(page.locator("h1")).to_contain_text("1 件已超时")
        shot(page, "callbacks")
        row.locator("input[name=note]").fill("约好周六上午上门")
        row.locator("button").click()
        expect(page.locator("#done")).to_have_text(f"回电 #{late} 已标记为已回电，会告诉居民")
        expect(page.locator(f"tr[data-callback='{late}']")).to_have_count(0)

        page.goto(f"{site.url}/tickets/{site.extra['unmanaged']}")  # the other one, from its ticket
        card = page.locator(f".a-callback[data-callback='{linked}']")
        card.locator("input[name=note]").fill("已电话说明维修安排")
        card.locator("button").click()
        expect(page.locator("#done")).to_have_text("已标记为已回电，会告诉居民")
        expect(page.locator(".history li").first).to_contain_text("社区工作人员已回电")
        expect(page.locator(".a-callback")).to_have_count(0)
        page.goto(f"{site.url}/callbacks")
        expect(page.locator("#empty")).to_be_visible()
    finally:
        page.context.close()

    done = callbacks.get(store, late)
    assert (done.status, done.done_by, done.done_note) == ("done", "staff:wecom:wangyuan-office", "约好周六上午上门")
    with session_scope(site.engine) as session:
        assert session.get(CallbackRequest, late).done_planned_at is not None  # its job is in the job store
    run_job(site.engine, rasa.url, lambda context: callback_jobs.tell_resident(context, late))
    assert [(c.conversation_id, c.entities) for c in rasa.named(callback_jobs.DONE_INTENT)] == [
        ("oLate01", {"callback_id": str(late)})]
