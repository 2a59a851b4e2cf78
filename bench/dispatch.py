"""Time from a resident's "确认" to the handler's dispatch notice (派单), many residents filing at once.

A real Linli stack (Rasa server with the REST and WeChat Work channels, action server) on a fresh
SQLite database, the WeChat Work stand-in as the handlers' platform, and the scheduler in this
process on the real clock, as `linli run` starts it (its notice sweep every
``handlers.notice_sweep_seconds``). Each of ``--residents`` residents sends one complaint with the
whole address and a phone number in its first message and then "确认", all at once (spread over
``--spread`` seconds); every resident reports a different building × category, so none is offered
another's ticket as a duplicate. The clock starts when "确认" is sent and stops when the stand-in
receives the handler's message naming the ticket (``message/send``; both sides in this process, one
monotonic clock). Quiet hours are switched off in a copy of service.yml so the run measures the
same thing by day and by night.

    python bench/dispatch.py                     # 50 residents, p50/p99 of 确认 → notice
    python bench/dispatch.py --residents 10 --spread 0

Prints the machine, the commit and the load average before and after, then the figures; appends a
JSON line to bench/results/dispatch.jsonl. Target: p99 under 5 s with 50 residents.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.turns import percentile  # noqa: E402
from bot.core.settings import PACKAGE_DATA, PROJECT_ROOT  # noqa: E402
from tests.stack import start_stack  # noqa: E402
from tests.standins.server import LoopThread  # noqa: E402
from tests.standins.wecom import WeComStandIn  # noqa: E402

TICKET = re.compile(r"GD\d{12}")
#: One complaint per building × category: (community alias, building, words after the address)
PLACES = [("万柳西园", b) for b in range(1, 13)] + [("望园", b) for b in range(1, 9)]
PROBLEMS = ["2单元301室屋顶漏水了，下雨就往下滴", "1单元楼道里堆满了纸箱杂物", "楼下广场舞噪音太大了，天天吵到很晚"]


def complaints(count: int) -> list[str]:
    combos = list(itertools.product(PROBLEMS, PLACES))
    if count > len(combos):
        raise SystemExit(f"at most {len(combos)} residents (one per building × category)")
    return [f"{community}{building}号楼{problem}，电话139{index:08d}"
            for index, (problem, (community, building)) in enumerate(combos[:count])]


def handler_contacts() -> dict:
    """Every handler of the sample directory, reached on one WeChat Work account each."""
    directory = yaml.safe_load((PACKAGE_DATA / "directory.yml").read_text(encoding="utf-8"))
    names = [c["name"] for c in directory["property_companies"]] + [c["name"] for c in directory["communities"]]
    names += sorted({b["owner_unit"] for c in directory["communities"] for b in c["buildings"] if b.get("owner_unit")})
    names += [d["name"] for d in directory["street"]["departments"]]
    return {name: f"bench-{index}" for index, name in enumerate(names)}


def prepare(tmp: Path, wecom: WeComStandIn) -> dict:
    contacts = handler_contacts()
    wecom.members = set(contacts.values())
    (tmp / "handlers.yml").write_text(yaml.safe_dump({"handlers": [
        {"name": name, "contacts": [{"channel": "wecom", "id": user}]} for name, user in contacts.items()]},
        allow_unicode=True), encoding="utf-8")
    service = yaml.safe_load((PACKAGE_DATA / "service.yml").read_text(encoding="utf-8"))
    service["quiet_hours"] = ["00:00", "00:00"]
    (tmp / "service.yml").write_text(yaml.safe_dump(service, allow_unicode=True), encoding="utf-8")
    (tmp / "credentials.yml").write_text(yaml.safe_dump({"rest": None, "bot.channels.wecom.WeComInput": wecom.credentials()}),
                                         encoding="utf-8")
    return {"handlers_file": str(tmp / "handlers.yml"), "service_config": str(tmp / "service.yml"),
            "credentials": str(tmp / "credentials.yml")}


async def file_one(client: httpx.AsyncClient, url: str, text: str, delay: float, confirmed: dict, errors: list) -> None:
    await asyncio.sleep(delay)
    sender = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        await client.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text})
        started = time.monotonic()
        reply = await client.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": "确认"})
        answer = " ".join(m.get("text", "") for m in reply.json())
        found = TICKET.search(answer)
        if found:
            confirmed[found.group(0)] = (started, time.monotonic())
        else:
            errors.append(f"no ticket: {answer[:80]}")
    except httpx.HTTPError as error:
        errors.append(f"{type(error).__name__}: {error}")


async def file_all(url: str, texts: list[str], spread: float) -> tuple[dict, list]:
    confirmed, errors = {}, []
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=len(texts))) as client:
        await asyncio.gather(*(file_one(client, url, text, spread * i / max(len(texts), 1), confirmed, errors)
                               for i, text in enumerate(texts)))
    return confirmed, errors


def notice_times(wecom: WeComStandIn) -> dict:
    """Ticket id → when its first handler message reached the platform."""
    seen = {}
    for call in wecom.calls:
        if call.path == "message/send" and call.errcode == 0:
            for ticket_id in TICKET.findall(call.body["text"]["content"]):
                seen.setdefault(ticket_id, call.at)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--spread", type=float, default=1.0, help="seconds over which the residents start")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for every notice")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=PROJECT_ROOT).stdout.strip()
    load_before = os.getloadavg()
    print(f"{platform.node()} {os.cpu_count()} cores, commit {commit}, load {load_before[0]:.2f}")
    loop = LoopThread()
    wecom = loop.run(WeComStandIn().start())
    with tempfile.TemporaryDirectory(prefix="linli-dispatch-") as folder:
        tmp = Path(folder)
        overrides = prepare(tmp, wecom)
        stack = start_stack(tmp, **overrides)
        wecom.callback_url = f"{stack.url}/webhooks/wecom/webhook"
        os.environ.update({f"LINLI_{k.upper()}": v for k, v in overrides.items()},
                          LINLI_DATABASE_URL=stack.env["LINLI_DATABASE_URL"])
        import bot.runtime.scheduler  # noqa: F401 - registers the workflows' jobs
        from bot.scheduling.scheduler import Scheduler
        from bot.scheduling.settings import SchedulerSettings

        settings = SchedulerSettings(database_url=stack.env["LINLI_DATABASE_URL"], redis_url=None, rasa_url=stack.url,
                                     api_token=None, timezone="Asia/Shanghai",
                                     key_prefix=f"linli-bench-dispatch-{uuid.uuid4().hex[:6]}")
        scheduler = Scheduler(settings).start()
        try:
            texts = complaints(args.residents)
            confirmed, errors = asyncio.run(file_all(stack.url, texts, args.spread))
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline and not set(confirmed) <= set(notice_times(wecom)):
                time.sleep(0.2)
            reached = notice_times(wecom)
        finally:
            scheduler.stop()
            stack.stop()
            loop.run(wecom.stop())
            loop.close()
    waits = [reached[t] - sent for t, (sent, _) in confirmed.items() if t in reached]
    turns = [done - sent for sent, done in confirmed.values()]
    load_after = os.getloadavg()
    result = {"commit": commit, "residents": args.residents, "spread_s": args.spread, "tickets": len(confirmed),
              "notified": len(waits), "errors": errors[:5], "error_count": len(errors),
              "confirm_turn_p50_s": round(percentile(turns, 0.5), 3) if turns else None,
              "notice_p50_s": round(percentile(waits, 0.5), 3) if waits else None,
              "notice_p99_s": round(percentile(waits, 0.99), 3) if waits else None,
              "notice_max_s": round(max(waits), 3) if waits else None,
              "load_before": round(load_before[0], 2), "load_after": round(load_after[0], 2)}
    print(json.dumps(result, ensure_ascii=False, indent=1))
    out = PROJECT_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "dispatch.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 0 if waits and len(waits) == len(confirmed) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
