"""Channel chores for the ``linli`` command: Telegram polling and webhook, the WeChat menu.

Each reads its channel's section of the credentials file the way ``rasa run`` does (``${VAR}``
expanded from the environment), so the command line and the server never disagree.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from bot.core.settings import get_settings

TELEGRAM_CLASS = "bot.channels.telegram.TelegramInput"
WECHAT_CLASS = "bot.channels.wechat.WeChatInput"


def channel_credentials(class_path: str, credentials_path: Optional[str | Path] = None) -> Dict[str, Any]:
    """The section of ``credentials.yml`` (or ``LINLI_CREDENTIALS``) configuring ``class_path``."""
    from rasa.shared.utils.io import read_config_file

    from bot.core.settings import credentials_path as default_credentials

    path = Path(credentials_path) if credentials_path else default_credentials(get_settings())
    sections = read_config_file(str(path)) or {}
    if class_path not in sections:
        raise SystemExit(f"{path} has no '{class_path}' section; see credentials.example.yml")
    return sections[class_path] or {}


def _webhook_url(rasa_url: Optional[str]) -> str:
    from bot.channels.telegram import CHANNEL

    base = rasa_url or f"http://127.0.0.1:{get_settings().rasa_port}"
    return f"{base.rstrip('/')}/webhooks/{CHANNEL}/webhook"


def run_telegram_polling(credentials_path: Optional[str | Path] = None, rasa_url: Optional[str] = None) -> None:
    """Fetch Telegram updates with getUpdates and hand them to the local Rasa server (``rasa_url``,
    default ``http://127.0.0.1:$LINLI_RASA_PORT``) until SIGINT/SIGTERM. For a pilot without a
    public HTTPS URL; run it beside ``linli run`` (it waits for the server to come up)."""
    from bot.channels.telegram import TelegramSettings, poll_updates

    settings = TelegramSettings.from_credentials(channel_credentials(TELEGRAM_CLASS, credentials_path))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
                loop.add_signal_handler(signum, stop.set)
        await poll_updates(settings, _webhook_url(rasa_url), stop)

    asyncio.run(main())


def set_telegram_webhook(public_url: str, credentials_path: Optional[str | Path] = None) -> Dict[str, Any]:
    """Point Telegram at ``<public_url>/webhooks/linli_telegram/webhook`` with the secret token and
    publish the command menu; returns getWebhookInfo."""
    from bot.channels.telegram import ALLOWED_UPDATES, BOT_COMMANDS, TelegramSettings, build_bot

    if not public_url.startswith("https://"):
        raise SystemExit(f"Telegram only calls HTTPS webhooks; give the public https:// URL, not {public_url!r}")

    settings = TelegramSettings.from_credentials(channel_credentials(TELEGRAM_CLASS, credentials_path))

    async def main() -> Dict[str, Any]:
        async with build_bot(settings) as bot:
            await bot.set_webhook(_webhook_url(public_url), secret_token=settings.secret_token,
                                  allowed_updates=ALLOWED_UPDATES)
            await bot.set_my_commands(BOT_COMMANDS)
            return (await bot.get_webhook_info()).to_dict()

    return asyncio.run(main())


def create_wechat_menu(menu_yaml_path: Optional[str | Path] = None,
                       credentials_path: Optional[str | Path] = None) -> Dict[str, Any]:
    """Create the Official Account menu from ``menu_yaml_path`` (default: the ``menu`` key of the
    wechat credentials, else ``bot/data/wechat_menu.yml``). The file is checked against the
    platform's rules before anything is sent. Returns the API's answer."""
    from bot.channels.wechat import WeChatInput, load_menu

    channel = WeChatInput.from_credentials(channel_credentials(WECHAT_CLASS, credentials_path))
    menu = load_menu(menu_yaml_path or channel.settings.menu)
    return asyncio.run(channel.create_menu(menu))


def _print_json(result: Dict[str, Any]) -> int:
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(sub) -> None:
    """``linli wechat menu`` and ``linli telegram webhook URL``."""
    wechat = sub.add_parser("wechat", help="WeChat Official Account chores")
    wechat.add_argument("action", choices=["menu"])
    wechat.add_argument("--menu", help="menu YAML (default bot/data/wechat_menu.yml)")
    wechat.set_defaults(func=lambda args: _print_json(create_wechat_menu(args.menu)))

    telegram = sub.add_parser("telegram", help="Telegram chores")
    telegram.add_argument("action", choices=["webhook"])
    telegram.add_argument("url", help="the public HTTPS base URL of this server, e.g. https://linli.example.org")
    telegram.set_defaults(func=lambda args: _print_json(set_telegram_webhook(args.url)))


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m bot.cli.channels telegram-polling`` — lets ``linli run`` start polling as a child process."""
    parser = argparse.ArgumentParser(prog="python -m bot.cli.channels")
    sub = parser.add_subparsers(dest="command", required=True)
    polling = sub.add_parser("telegram-polling")
    polling.add_argument("--credentials")
    polling.add_argument("--rasa-url")
    args = parser.parse_args(argv)
    run_telegram_polling(args.credentials, args.rasa_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
