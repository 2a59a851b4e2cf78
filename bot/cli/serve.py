"""``linli train|shell|run|parse``."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Iterable

from bot.core.settings import get_settings


def _cmd_train(args: argparse.Namespace) -> int:
    from bot.runtime.processes import train

    print(f"model: {train(force=args.force)}")
    return 0


def _serve(shell: bool, workers: int = 1, telegram_polling: bool = False) -> int:
    """Action server plus Rasa (server or shell); with the server the scheduler, the workbench and,
    when asked, Telegram polling. Every process is supervised (started again when it dies, reported
    by ``GET /health``); all stop together."""
    from bot.runtime import processes
    from bot.runtime.supervision import Supervisor
    from bot.workbench.server import start_console

    settings = get_settings()
    processes.train(settings)
    supervisor = Supervisor()
    try:
        actions = supervisor.add("actions", lambda **popen: processes.start_action_server(settings, workers=workers, **popen))
        processes.wait_for_port(settings.action_port, 120, actions.process)
        if shell:
            threading.Thread(target=supervisor.run, name="linli-supervisor", daemon=True).start()
            # Library deprecation warnings are noise in a chat window; the server logs keep them.
            # Rasa's shell talks to its own stock REST-like channel: this machine only.
            return processes.rasa_command("shell", "--model", str(processes.model_path(settings)),
                                 "--endpoints", str(processes.write_endpoints(settings)),
                                 "--interface", "127.0.0.1", "--port", str(settings.rasa_port),
                                 env={**os.environ, "PYTHONWARNINGS": "ignore"}).returncode
        supervisor.add("rasa", lambda **popen: processes.start_rasa_server(settings, workers=workers, **popen))
        supervisor.add("scheduler", processes.start_scheduler)
        supervisor.add("workbench", lambda **popen: start_console(settings, **popen))
        if telegram_polling:
            supervisor.add("telegram-polling", lambda **popen: subprocess.Popen(
                [sys.executable, "-m", "bot.cli.channels", "telegram-polling"], **popen))
        supervisor.serve_health()
        signal.signal(signal.SIGTERM, supervisor.request_stop)
        supervisor.run()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        supervisor.stop()


def _cmd_shell(args: argparse.Namespace) -> int:
    return _serve(shell=True)


def production_refusals(settings) -> list[str]:
    """Why ``linli run`` must not start as configured (empty: it may). The Rasa port faces the
    internet for the platforms' webhooks; nothing on it may act for someone it did not verify."""
    from bot.config.staff import load_staff
    from bot.core.settings import operator_credentials
    from bot.runtime.processes import STOCK_CHANNELS_TRUSTING_THE_BODY

    where = f"{settings.rasa_host}:{settings.rasa_port}"
    problems = []
    if not settings.rasa_local_only and not settings.api_token:
        problems.append(f"Rasa's HTTP API (/conversations/…) would be open on {where}: set LINLI_API_TOKEN, "
                        "or LINLI_RASA_HOST=127.0.0.1 behind a proxy that forwards only /webhooks/.")
    source, channels = operator_credentials(settings)
    stock = [name for name in channels if name in STOCK_CHANNELS_TRUSTING_THE_BODY]
    if stock:
        problems.append(f"{source} names Rasa's own {', '.join(stock)} channel, which takes the sender from "
                        "the request body: remove it (LINLI_REST=on gives Linli's REST channel).")
    if settings.rest_enabled:
        if not settings.rasa_local_only and not settings.rest_token:
            problems.append(f"the REST channel would be open on {where}: set LINLI_REST_TOKEN, or LINLI_REST=off.")
        if settings.rest_sender_prefix != "rest:":
            problems.append("LINLI_REST_SENDER_PREFIX is for tests: REST conversations must stay 'rest:…'.")
        if any(member.channel == "rest" for member in load_staff()):
            problems.append("the staff file lists REST senders: REST identities are not verified by any "
                            "platform, so they can be staff only in local development.")
    return problems


def _cmd_run(args: argparse.Namespace) -> int:
    if not os.environ.get("LINLI_REST"):
        os.environ["LINLI_REST"] = "off"  # REST is for local use unless asked for
    problems = production_refusals(get_settings())
    if problems:
        print("linli run refuses to start:\n" + "\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 2
    return _serve(shell=False, workers=args.workers, telegram_polling=args.telegram_polling)


def parse_result(parsed: dict) -> dict:
    """The stable, documented shape of `linli parse` output."""
    intent = parsed.get("intent") or {}
    entities = [{"entity": e["entity"], "value": e["value"]} for e in parsed.get("entities", [])
                if e.get("entity") != "category"]
    category = next((e["value"] for e in parsed.get("entities", []) if e.get("entity") == "category"), None)
    if intent.get("name") == "faq":
        selected = ((parsed.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        key = selected.get("intent_response_key")
        intent = {**intent, "full_retrieval_intent": key}
    return {
        "text": parsed.get("text"),
        "intent": {k: v for k, v in (("name", intent.get("name")), ("confidence", intent.get("confidence")),
                                     ("full_retrieval_intent", intent.get("full_retrieval_intent"))) if v is not None},
        "entities": entities,
        "category": category,
    }


class Parser:
    """Loads the trained model once and parses many messages with it."""

    def __init__(self) -> None:
        import logging

        from rasa.core.agent import Agent
        from rasa.utils.log_utils import configure_structlog

        # Rasa's structured log writes to stdout unless configured; stdout is for the JSON results.
        configure_structlog(logging.WARNING)

        from bot.runtime.processes import model_path, train

        settings = get_settings()
        train(settings)
        self.agent = Agent.load(str(model_path(settings)))

    async def parse(self, text: str) -> dict:
        return parse_result(await self.agent.parse_message(text))


def _lines(source: Iterable[str]) -> Iterable[str]:
    for line in source:
        yield line.rstrip("\n")


def _cmd_parse(args: argparse.Namespace) -> int:
    # Standard output carries only the JSON results: whatever Rasa, jieba or TensorFlow print while
    # loading and parsing goes to standard error.
    results, sys.stdout = sys.stdout, sys.stderr
    parser = Parser()

    async def run() -> None:
        texts = _lines(sys.stdin) if args.text == "-" else [args.text]
        for text in texts:
            print(json.dumps(await parser.parse(text), ensure_ascii=False), file=results, flush=True)

    asyncio.run(run())
    return 0


def register(sub) -> None:
    train = sub.add_parser("train", help="train the Rasa model (skipped when it is up to date)")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=_cmd_train)

    sub.add_parser("shell", help="chat as a resident in the terminal").set_defaults(func=_cmd_shell)

    run = sub.add_parser("run", help="Rasa server (REST channel, API) and the action server")
    run.add_argument("--workers", type=int, default=1, help="Rasa worker processes (needs Redis)")
    run.add_argument("--telegram-polling", action="store_true",
                     help="fetch Telegram updates by polling (a pilot without a public URL)")
    run.set_defaults(func=_cmd_run)

    parse = sub.add_parser("parse", help="print NLU results as JSON; '-' reads one message per line")
    parse.add_argument("text")
    parse.set_defaults(func=_cmd_parse)
