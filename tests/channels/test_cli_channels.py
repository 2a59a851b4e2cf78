"""The channel chores the CLI runs, against the stand-ins."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import yaml

from bot.channels.wechat import api_menu, load_menu
from bot.cli.channels import TELEGRAM_CLASS, WECHAT_CLASS, create_wechat_menu, set_telegram_webhook
from bot.core.settings import PROJECT_ROOT
from tests.standins.telegram import TelegramStandIn
from tests.standins.wechat import WeChatStandIn


@pytest.fixture
async def wx():
    standin = await WeChatStandIn().start()
    yield standin
    await standin.stop()


def write_credentials(tmp_path, sections: dict):
    path = tmp_path / "credentials.yml"
    path.write_text(yaml.safe_dump(sections, allow_unicode=True))
    return path


async def test_wechat_menu_is_created_from_the_yaml_with_secrets_from_the_environment(wx, tmp_path, monkeypatch):
    monkeypatch.setenv("LINLI_TEST_WECHAT_SECRET", wx.secret)
    path = write_credentials(tmp_path, {WECHAT_CLASS: wx.credentials(secret="${LINLI_TEST_WECHAT_SECRET}")})
    result = await asyncio.to_thread(create_wechat_menu, None, path)
    assert result["errcode"] == 0
    assert wx.menu == api_menu(load_menu())
    assert [b["name"] for b in wx.menu["button"]] == ["报事报修", "进度查询", "常见问题"]


async def test_a_menu_breaking_the_platform_rules_is_refused_before_sending(wx, tmp_path):
    menu = tmp_path / "menu.yml"
    menu.write_text(yaml.safe_dump({"button": [{"name": f"菜单{i}", "type": "click", "key": f"K{i}",
                                                "payload": "/help"} for i in range(4)]}, allow_unicode=True))
    path = write_credentials(tmp_path, {WECHAT_CLASS: wx.credentials()})
    with pytest.raises(ValueError, match="1 to 3"):
        await asyncio.to_thread(create_wechat_menu, menu, path)
    assert wx.calls == [] and wx.menu is None


async def test_telegram_webhook_is_set_with_the_secret_token(tmp_path):
    api = await TelegramStandIn().start()
    try:
        path = write_credentials(tmp_path, {TELEGRAM_CLASS: {
            "token": api.token, "secret_token": "s3cret", "base_url": api.base_url}})
        info = await asyncio.to_thread(set_telegram_webhook, "https://linli.example.org", path)
    finally:
        await api.stop()
    assert info["url"] == "https://linli.example.org/webhooks/linli_telegram/webhook"
    assert api.webhook["secret_token"] == "s3cret"
    assert api.webhook["allowed_updates"] == ["message", "callback_query"]
    assert [c["command"] for c in api.commands] == ["report", "status", "subscribe", "unsubscribe", "help"]


def test_a_missing_section_is_named(tmp_path):
    path = write_credentials(tmp_path, {"rest": None})
    with pytest.raises(SystemExit, match="bot.channels.wechat.WeChatInput"):
        create_wechat_menu(None, path)


async def test_linli_telegram_webhook_from_the_command_line(tmp_path):
    api = await TelegramStandIn().start()
    try:
        path = write_credentials(tmp_path, {TELEGRAM_CLASS: {
            "token": api.token, "secret_token": "s3cret", "base_url": api.base_url}})
        env = {**os.environ, "LINLI_CREDENTIALS": str(path)}
        plain = await linli(env, "telegram", "webhook", "http://linli.example.org")
        done = await linli(env, "telegram", "webhook", "https://linli.example.org")
    finally:
        await api.stop()
    assert plain.returncode != 0 and "HTTPS" in plain.stderr
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["url"] == "https://linli.example.org/webhooks/linli_telegram/webhook"
    assert api.webhook["secret_token"] == "s3cret"


async def linli(env, *args):
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, env=env, cwd=PROJECT_ROOT,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())
