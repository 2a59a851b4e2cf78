"""credentials.example.yml loads through Rasa's own channel loader, without network work."""
from __future__ import annotations

from pathlib import Path

from rasa.core.channels.channel import register
from rasa.core.run import create_http_input_channels
from sanic import Sanic

from bot.channels.rest import RestInput
from bot.channels.telegram import TelegramInput
from bot.channels.wechat import WeChatInput
from bot.channels.wecom import WeComInput
from bot.core.settings import credentials_path, get_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "credentials.example.yml"
ENVIRONMENT = {
    "LINLI_TELEGRAM_TOKEN": "123456:example", "LINLI_TELEGRAM_SECRET": "example-secret",
    "LINLI_WECHAT_APPID": "wx0000000000000000", "LINLI_WECHAT_SECRET": "s", "LINLI_WECHAT_TOKEN": "t",
    "LINLI_WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "LINLI_WECHAT_TEMPLATE_ID": "tpl",
    "LINLI_WECOM_CORP_ID": "ww0000000000000000", "LINLI_WECOM_AGENT_ID": "1000002", "LINLI_WECOM_SECRET": "s",
    "LINLI_WECOM_TOKEN": "t", "LINLI_WECOM_AES_KEY": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "LINLI_WECOM_ROBOT_XIYUAN": "robot-key",
}


def test_the_example_credentials_load_as_rasa_loads_them(monkeypatch, tmp_path):
    for name, value in {**ENVIRONMENT, "LINLI_CREDENTIALS": str(EXAMPLE), "LINLI_VAR_DIR": str(tmp_path),
                        "LINLI_REST": "on", "LINLI_REST_TOKEN": "example-rest-token"}.items():
        monkeypatch.setenv(name, value)
    channels = create_http_input_channels(None, str(credentials_path(get_settings())))  # as `linli run` gives them
    by_name = {channel.name(): channel for channel in channels}
    assert set(by_name) == {"rest", "linli_telegram", "wechat", "wecom"}
    assert isinstance(by_name["rest"], RestInput) and by_name["rest"].token == "example-rest-token"
    assert by_name["rest"].sender_prefix == "rest:"
    assert isinstance(by_name["linli_telegram"], TelegramInput)
    assert isinstance(by_name["wechat"], WeChatInput) and by_name["wechat"].settings.fallback_template
    assert isinstance(by_name["wecom"], WeComInput) and by_name["wecom"].settings.agent_id == 1000002
    assert all(channel.get_output_channel() is not None for name, channel in by_name.items() if name != "rest")

    Sanic.test_mode = True
    app = Sanic("linli_credentials_test")
    register(channels, app, "/webhooks/")
    routes = {route.path for route in app.router.routes}
    for name in ("linli_telegram", "wechat", "wecom"):
        assert f"webhooks/{name}/webhook" in routes


def test_rest_is_linlis_or_absent_never_rasas(monkeypatch, tmp_path):
    stock = tmp_path / "stock.yml"
    stock.write_text("rest:\n")
    monkeypatch.setenv("LINLI_CREDENTIALS", str(stock))
    monkeypatch.setenv("LINLI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("LINLI_REST", "off")
    assert create_http_input_channels(None, str(credentials_path(get_settings()))) == []
    monkeypatch.setenv("LINLI_REST", "on")
    [rest] = create_http_input_channels(None, str(credentials_path(get_settings())))
    assert isinstance(rest, RestInput) and rest.token is None
