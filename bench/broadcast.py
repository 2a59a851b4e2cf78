"""A broadcast to 10,000 people across Telegram, WeChat and WeChat Work, through the platform stand-ins.

A real Linli stack (Rasa server with the three channels of a credentials file pointing at the
stand-ins, and the action server) serves in subprocesses; the stand-ins run in this process with
the platforms' real limits (Telegram 30 messages/s overall, 1/s per chat, 20/min per group; group
robots 20/min; WeChat's customer-service window, with a template message outside it). The
audience — private Telegram chats, Telegram groups, WeChat followers inside and outside their
48-hour window, WeChat Work group robots, plus people who must be skipped (unsubscribed, other
topics, a channel without push) — is bulk-inserted, then `linli broadcast send --yes` runs as a
subprocess, as staff would run it.

Measured: wall time against the platforms' ceiling (Telegram's share at 30/s), each channel's first
and last delivery, the peak memory of the broadcasting process, the Rasa server and the action
server (VmHWM), limit violations the stand-ins counted (must be 0), and that everyone got exactly
one message.

    python bench/broadcast.py                      # the figures in BENCHMARKS.md
    python bench/broadcast.py --recipients 1000    # a quick look

Needs a trained model (LINLI_MODEL_DIR). Results are printed and appended as JSON lines to
bench/results/broadcast.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import yaml
from sqlalchemy import create_engine, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.broadcasts import lifecycle
from bot.core.db import init_db
from bot.people.models import Person
from tests.fixtures_db import scratch_schema  # noqa: E402
from tests.stack import start_stack  # noqa: E402
from tests.standins.server import LoopThread  # noqa: E402
from tests.standins.telegram import TelegramLimits, TelegramStandIn  # noqa: E402
from tests.standins.wechat import USER_MESSAGE_QUOTA, WeChatStandIn  # noqa: E402
from tests.standins.wecom import WeComStandIn  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "broadcast.jsonl"
TELEGRAM_RATE = 30  # messages per second, overall
TEXT = "【停水通知】因管网检修，望园社区明天9:00-12:00停水，请提前储水。给您带来不便，敬请谅解。"


def audience(total: int, telegram_share: float, groups: int, robots: int) -> dict[str, list[str]]:
    """Who is sent to, per kind; the rest of the people are skipped."""
    telegram = int(total * telegram_share) - groups
    wechat = total - telegram - groups - robots
    return {"telegram": [str(7_000_000 + n) for n in range(telegram)],
            "groups": [str(-1_000_000_000 - n) for n in range(groups)],
            "wechat_in_window": [f"oBench{n:07d}" for n in range(wechat // 2)],
            "wechat_template": [f"oBench{n:07d}" for n in range(wechat // 2, wechat)],
            "robots": [f"robot:bench{n}" for n in range(robots)]}


def people_rows(sent_to: dict[str, list[str]], skipped: int) -> list[dict]:
    now = datetime.now(timezone.utc)
    channel = {"telegram": "linli_telegram", "groups": "linli_telegram", "wechat_in_window": "wechat",
               "wechat_template": "wechat", "robots": "wecom"}
    rows = [{"channel": channel[kind], "sender_id": sender, "role": "resident", "community": "望园社区",
             "subscribed": True, "topics": [], "staff_communities": [], "updated_at": now}
            for kind, senders in sent_to.items() for sender in senders]
    for n in range(skipped):  # unsubscribed, outages not chosen, a channel without push
        kind = n % 3
        rows.append({"channel": "rest" if kind == 2 else "linli_telegram", "sender_id": str(8_000_000 + n),
                     "role": "resident", "community": "望园社区", "subscribed": kind != 0,
                     "topics": ["events"] if kind == 1 else [], "staff_communities": [], "updated_at": now})
    return rows


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'linli.db'}"
        return
    with scratch_schema("linli_bench") as url:
        yield url


def peak_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return 0.0


def run_cli(env: dict, log: Path) -> tuple[int, float, float]:
    """`linli broadcast send --yes` as staff run it; (exit code, seconds, peak MB)."""
    command = [sys.executable, "-m", "bot.cli", "broadcast", "send", TEXT, "--community", "望园社区",
               "--topic", "outages", "--yes"]
    started, peak = time.perf_counter(), 0.0
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parent.parent)
        while process.poll() is None:
            peak = max(peak, peak_mb(process.pid))
            time.sleep(0.2)
    return process.returncode, time.perf_counter() - started, peak


def span(times: list[float], start: float) -> dict:
    return {"first_s": round(min(times) - start, 1), "last_s": round(max(times) - start, 1),
            "count": len(times)} if times else {"count": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000, help="people the notice is sent to")
    parser.add_argument("--skipped", type=int, default=900, help="people in the audience who must be skipped")
    parser.add_argument("--telegram-share", type=float, default=0.6)
    parser.add_argument("--groups", type=int, default=20, help="Telegram groups among the Telegram share")
    parser.add_argument("--robots", type=int, default=80, help="WeChat Work group robots")
    parser.add_argument("--database", choices=["sqlite", "pg"], default="sqlite")
    args = parser.parse_args()

    loop = LoopThread()
    telegram = loop.run(TelegramStandIn(limits=TelegramLimits(overall=(TELEGRAM_RATE, 1.0))).start())
    wechat = loop.run(WeChatStandIn().start())
    sent_to = audience(args.recipients, args.telegram_share, args.groups, args.robots)
    robot_keys = {sender.split(":", 1)[1]: f"key-{sender.split(':', 1)[1]}" for sender in sent_to["robots"]}
    wecom = loop.run(WeComStandIn(robots=set(robot_keys.values())).start())
    for user in sent_to["wechat_in_window"]:
        wechat._grant(user, USER_MESSAGE_QUOTA)
    wechat.subscribed.update(sent_to["wechat_template"])

    tmp = Path(tempfile.mkdtemp(prefix="linli-bench-broadcast-"))
    credentials = tmp / "credentials.yml"
    credentials.write_text(yaml.safe_dump({
        "rest": None,
        "bot.channels.telegram.TelegramInput": {"token": telegram.token, "secret_token": "bench",
                                                "base_url": telegram.base_url},
        "bot.channels.wechat.WeChatInput": wechat.credentials(fallback_template={
            "template_id": "TPL_FOLLOW_UP", "data": {"thing1": "{text}", "time2": "{time}"}}),
        "bot.channels.wecom.WeComInput": wecom.credentials(robots=robot_keys),
    }, allow_unicode=True))
    with database(args.database, tmp) as url:
        engine = create_engine(url, future=True)
        init_db(engine)
        rows = people_rows(sent_to, args.skipped)
        with engine.begin() as connection:
            for start in range(0, len(rows), 5000):
                connection.execute(insert(Person), rows[start:start + 5000])

        stack = start_stack(tmp, credentials=str(credentials), database_url=url)
        try:
            started = time.monotonic()
            code, seconds, cli_peak = run_cli(stack.env, tmp / "cli.log")
            rasa_peak, actions_peak = peak_mb(stack.processes[1].pid), peak_mb(stack.processes[0].pid)
        finally:
            stack.stop()
        view = lifecycle.listing(engine, 1)[0]

        telegram_private = Counter(str(p["chat_id"]) for p in telegram.sent("sendMessage"))
        wechat_custom = Counter(b["touser"] for b in wechat.sent("message/custom/send"))
        wechat_template = Counter(b["touser"] for b in wechat.sent("message/template/send"))
        robot_posts = Counter(c.params.get("key") for c in wecom.calls if c.path == "webhook/send" and c.errcode == 0)
        expected = {
            "telegram chats": set(sent_to["telegram"] + sent_to["groups"]) == set(telegram_private)
            and set(telegram_private.values()) == {1},
            "wechat in window": set(sent_to["wechat_in_window"]) == set(wechat_custom) and set(wechat_custom.values()) == {1},
            "wechat template": set(sent_to["wechat_template"]) == set(wechat_template)
            and set(wechat_template.values()) == {1},
            "robots": set(robot_keys.values()) == set(robot_posts) and set(robot_posts.values()) == {1},
        }
        telegram_count = len(sent_to["telegram"]) + len(sent_to["groups"])
        result = {
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
            "database": args.database, "recipients": args.recipients, "skipped_expected": args.skipped,
            "exit_code": code, "status": view.status, "counts": view.counts,
            "wall_s": round(seconds, 1),
            "ceiling_s": round(telegram_count / TELEGRAM_RATE, 1),
            "per_s": round(args.recipients / seconds, 1),
            "telegram": span(telegram.send_times(), started),
            "wechat_custom": span([c.at for c in wechat.calls if c.path == "message/custom/send" and c.errcode == 0],
                                  started),
            "wechat_template": span([c.at for c in wechat.calls if c.path == "message/template/send" and c.errcode == 0],
                                    started),
            "robots": span([c.at for c in wecom.calls if c.path == "webhook/send" and c.errcode == 0], started),
            "violations": {"telegram_429": telegram.too_many_requests,
                           "robot_45009": sum(1 for c in wecom.calls if c.errcode == 45009),
                           "wechat_45047": sum(1 for c in wechat.calls if c.errcode == 45047)},
            "exactly_once": expected,
            "peak_mb": {"broadcast_cli": round(cli_peak), "rasa": round(rasa_peak), "action_server": round(actions_peak)},
            "load_avg_after": os.getloadavg()[0],
        }
        print(json.dumps(result, ensure_ascii=False, indent=2))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as out:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
