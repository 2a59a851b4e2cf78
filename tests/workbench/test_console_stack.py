"""The workbench beside a real Linli stack (action server + Rasa, REST channel): a resident's
complaint made in chat appears in the queue; staff filter, open, reassign and resolve it in the
browser; the resident answers the follow-up in chat and the open page shows the answer."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.stack import start_stack, ticket_id_in
from tests.workbench.conftest import ask_followup, shot, sign_in, start_console

pytestmark = pytest.mark.slow
PHONE = "13812345678"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("console_stack"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def site(stack, tmp_path_factory):
    console = start_console(tmp_path_factory.mktemp("console_stack_console"), env={
        k: v for k, v in stack.env.items() if k in ("LINLI_VAR_DIR", "LINLI_DATABASE_URL", "LINLI_RASA_PORT")})
    yield console
    console.stop()


def test_a_complaint_made_in_chat_is_worked_on_the_workbench(stack, site, browser):
    sender = "console-e2e-resident"
    stack.texts(sender, f"万柳西园5号楼2单元502屋顶漏水了，下雨就往下滴，电话{PHONE}")
    ticket = ticket_id_in(stack.texts(sender, "确认"))

    page = sign_in(browser, site)
    try:
        row = page.locator(f"tr[data-ticket='{ticket}']")
        expect(row).to_contain_text("漏雨渗水")
        expect(row).to_contain_text("138****5678")
        page.select_option("select[name=community]", "万柳西园社区")
        page.wait_for_url(re.compile(r"community="))
        page.select_option("select[name=category]", "leak")
        page.wait_for_url(re.compile(r"category=leak"))
        expect(page.locator(f"tr[data-ticket='{ticket}']")).to_have_count(1)
        shot(page, "stack-queue")

        page.click(f"a:text('{ticket}')")
        expect(page.locator("#phone")).to_have_text(PHONE)
        expect(page.locator("#handler")).to_contain_text("首华物业")
        page.fill(".a-assign input[name=text]", "万柳西园社区")
        page.click(".a-assign button")
        expect(page.locator("#handler")).to_contain_text("万柳西园社区（社区）")
        page.fill(".a-start input[name=text]", "社区网格员王磊已上门查看")
        page.click(".a-start button")
        expect(page.locator("h1 .status")).to_have_text("处理中")
        page.fill(".a-resolve textarea", "屋面防水已修补")
        page.click(".a-resolve button")
        expect(page.locator("h1 .status")).to_have_text("已办结，待回访")
        steps = page.locator(".history li strong")
        expect(steps).to_have_text(["已办结", "承办人已接单", "已改派", "已派单", "已受理"])

        # the resident hears about it in chat (progress) and is asked; they answer with the buttons
        ask_followup(site.engine, stack.url, ticket, 1)
        payload = '/followup_answer{{"ticket_id":"{}","followup_result":"{}"}}'
        stack.say(sender, payload.format(ticket, "unsolved"))
        stack.say(sender, payload.format(ticket, "dissatisfied"))
        expect(page.locator("#live")).to_be_visible(timeout=20_000)
        page.click("#reload")
        expect(page.locator(".followup[data-round='1']")).to_contain_text("没解决")
        expect(page.locator(".followup[data-round='1']")).to_contain_text("不满意")
        expect(page.locator("h1 .status")).to_have_text("重新处理中")
        expect(page.locator(".a-resolve button")).to_be_enabled()
        shot(page, "stack-ticket")
    finally:
        page.context.close()
