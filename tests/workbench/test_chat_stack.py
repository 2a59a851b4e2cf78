"""The workbench from chat on a real stack (action server + Rasa with the WeChat Work and Telegram
channels against their stand-ins, and the REST channel), beside a real workbench on the same
database, driven in Chromium:

- staff type "/登录" in WeChat Work (or ask in plain words on Telegram) and get a one-time link that
  opens the workbench once; a resident asking the same is told the workbench is for staff;
- a resident's message that the assistant does not understand, and one it answered wrongly ("不对"),
  appear on the 没听懂的话 page, masked; staff label one and `linli nlu export` writes it under nlu/.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid

import pytest
import yaml
from playwright.sync_api import expect

from bot.config.staff import StaffMember
from bot.core.settings import PACKAGE_DATA, PROJECT_ROOT
from bot.people import roster
from tests.channels.harness import eventually
from tests.stack import response_text, start_stack
from tests.workbench.conftest import shot, start_console

pytestmark = pytest.mark.slow
PUBLIC_URL = "https://linli.example.org"
WECOM_STAFF = "wangyuan-office"  # 望园社区办公室 on the staff roster
TELEGRAM_STAFF, TELEGRAM_RESIDENT = 7001, 7002
PHONE = "13812345678"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from tests.standins.server import LoopThread
    from tests.standins.telegram import TelegramStandIn
    from tests.standins.wecom import WeComStandIn

    loop = LoopThread()
    telegram = loop.run(TelegramStandIn().start())
    wecom = loop.run(WeComStandIn(members={WECOM_STAFF}).start())
    tmp = tmp_path_factory.mktemp("chat_stack")
    credentials = tmp / "credentials.yml"
    credentials.write_text(yaml.safe_dump({
        "rest": None,
        "bot.channels.telegram.TelegramInput": {"token": telegram.token, "secret_token": "console-secret",
                                                "base_url": telegram.base_url},
        "bot.channels.wecom.WeComInput": wecom.credentials(),
    }, allow_unicode=True))
    staff_file = tmp / "staff.yml"
    shutil.copy(PACKAGE_DATA / "staff.yml", staff_file)
    stack = start_stack(tmp, credentials=str(credentials), staff_file=str(staff_file), console_url=PUBLIC_URL)
    telegram.webhook = {"url": f"{stack.url}/webhooks/linli_telegram/webhook", "secret_token": "console-secret"}
    wecom.callback_url = f"{stack.url}/webhooks/wecom/webhook"
    console = start_console(tmp / "console", env={k: v for k, v in stack.env.items()
                                                  if k in ("LINLI_VAR_DIR", "LINLI_DATABASE_URL", "LINLI_RASA_PORT")})
    roster.add_staff(StaffMember("linli_telegram", str(TELEGRAM_STAFF), name="街道小王", notices=False),
                     console.engine, staff_file)
    shutil.copy(staff_file, console.staff_file)
    try:
        yield stack, console, telegram, wecom, loop
    finally:
        console.stop()
        stack.stop()
        for standin in (telegram, wecom):
            loop.run(standin.stop())
        loop.close()


def token_in(text: str) -> str:
    match = re.search(re.escape(PUBLIC_URL) + r"/login\?t=([A-Za-z0-9_-]+)", text)
    assert match, f"no sign-in link in: {text}"
    return match.group(1)


def wecom_says(live, user: str, text: str) -> str:
    """What WeChat Work shows ``user`` after they wrote ``text``: the passive reply, or the app
    message sent when the reply took longer than WeChat waits."""
    stack, console, telegram, wecom, loop = live
    before = len(wecom.app_texts(user))
    result = loop.run(wecom.push(wecom.text(user, text)))
    assert result.status == 200, result
    if result.reply:
        return result.reply["Content"]
    return loop.run(eventually(lambda: wecom.app_texts(user)[before:], 60, "a WeChat Work reply"))[-1]


def telegram_says(live, user: int, text: str) -> str:
    stack, console, telegram, wecom, loop = live
    before = len(telegram.texts(chat_id=user))
    status, _ = loop.run(telegram.deliver(telegram.message_update(user, text)))
    assert status == 200
    return loop.run(eventually(lambda: telegram.texts(chat_id=user)[before:], 60, "a Telegram reply"))[-1]


def open_link(browser, console, token: str):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.goto(f"{console.url}/login?t={token}")
    return page


def test_staff_sign_in_from_chat_with_a_link_that_works_once(live, browser):
    stack, console, telegram, wecom, loop = live
    reply = wecom_says(live, WECOM_STAFF, "/登录")
    assert reply.startswith("这是您的工作台登录链接，10分钟内有效，只能用一次")
    page = open_link(browser, console, token_in(reply))
    try:
        page.click("#enter")
        page.wait_for_url(f"{console.url}/tickets")
        expect(page.locator("header")).to_contain_text("望园社区办公室")
        shot(page, "chat-sign-in")
    finally:
        page.context.close()
    page = open_link(browser, console, token_in(reply))  # the same link again: refused
    try:
        expect(page.locator("body")).to_contain_text("已经用过或已经过期")
        shot(page, "chat-sign-in-reused")
    finally:
        page.context.close()

    asked = telegram_says(live, TELEGRAM_STAFF, "给我发个工作台的登录链接")  # plain words, another channel
    token_in(asked)
    assert telegram_says(live, TELEGRAM_RESIDENT, "登录工作台") == response_text("utter_console_staff_only")
    assert telegram_says(live, TELEGRAM_RESIDENT, "/登录") == response_text("utter_console_staff_only")


def test_what_the_assistant_got_wrong_is_labelled_on_the_workbench_and_exported(live, browser):
    stack, console, telegram, wecom, loop = live
    stack.say("chat-resident-1", "昨儿个那事儿咋整的呀")
    stack.say("chat-resident-2", f"物业电话多少 我是{PHONE}")
    stack.say("chat-resident-2", "不对，我问的不是这个")
    page = open_link(browser, console, console.link())
    out = PROJECT_ROOT / "nlu" / f"workbench_labelled_{uuid.uuid4().hex[:8]}.yml"
    try:
        page.click("#enter")
        page.goto(f"{console.url}/misunderstood")
        fell_back = page.locator("tr[data-message]", has_text="咋整的")
        expect(fell_back.locator(".reason")).to_have_text("没听懂")
        corrected = page.locator("tr[data-message]", has_text="物业电话多少")
        expect(corrected.locator(".reason")).to_have_text("居民说答错了")
        expect(corrected).to_contain_text("ask_property_hotline")
        expect(corrected).to_contain_text("138****5678")
        expect(page.locator("main")).not_to_contain_text(PHONE)
        expect(page.locator("tr[data-message]")).to_have_count(2)  # "不对" itself is no language to learn
        shot(page, "misunderstood-from-chat")
        fell_back.locator("select[name=intent]").select_option("check_status")
        fell_back.locator("button").click()
        page.goto(f"{console.url}/misunderstood?status=labelled")
        expect(page.locator("tr[data-message]", has_text="咋整的")).to_contain_text("check_status")

        done = subprocess.run([sys.executable, "-m", "bot.cli.main", "nlu", "export", "--out", str(out)],
                              cwd=PROJECT_ROOT, env=console.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "已写入 1 条训练样例" in done.stdout
        [block] = yaml.safe_load(out.read_text(encoding="utf-8"))["nlu"]
        assert (block["intent"], block.get("metadata")) == ("check_status", None)
        assert block["examples"] == "- 昨儿个那事儿咋整的呀\n"
    finally:
        page.context.close()
        out.unlink(missing_ok=True)
