"""The workbench on a busy street: the queue page over 100,000 tickets in PostgreSQL (target p99 under
300 ms) and the figures page (target under 1 s).

Seed (not measured): ``--tickets`` tickets in September 2026, shaped as bench/report.py makes them
(its Seeder: history, follow-ups, 80,000 residents), bulk-inserted into a fresh PostgreSQL schema and
ANALYZEd. A real ``python -m bot.workbench.server`` serves them; one signed-in client asks, one
request at a time over a kept-alive connection, for the queue with the filters staff use (none, a
community, a status, overdue, category within a community, a building, a date range, a deep page)
``--rounds`` times each — once as served (the counts beside the filters shared for 10 s), once with
the counts computed on every request — and for the figures page: the month of 100,000 tickets and a week, each
first cold (computed) then warm (within the page's cache time). Wall times are measured at the client.

    python bench/console.py                       # the figures in BENCHMARKS.md
    python bench/console.py --tickets 5000 --rounds 5

Results are printed and appended as JSON lines to bench/results/console.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import seed  # noqa: E402  (bench/report.py)

from bot.core.db import get_engine  # noqa: E402
from bot.people import roster  # noqa: E402
from bot.workbench import auth  # noqa: E402
from bot.workbench.models import init_tables  # noqa: E402
from tests.fixtures_db import scratch_schema  # noqa: E402
from tests.stack import free_port  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "console.jsonl"
DEFAULT_CONFIG = ROOT / "bot" / "workbench" / "workbench.yml"
QUEUES = {
    "no filter": "/tickets",
    "community": "/tickets?community=望园社区",
    "status": "/tickets?status=dispatched",
    "overdue": "/tickets?overdue=1",
    "category in community": "/tickets?community=万柳西园社区&category=leak",
    "building": "/tickets?building=望园社区:3",
    "date range": "/tickets?from=2026-09-10&to=2026-09-12",
    "page 40": "/tickets?page=40",
}
FIGURES = {"month (100,000 tickets)": "/figures?period=month&as_of=2026-09-30",
           "week": "/figures?period=week&as_of=2026-09-27"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def timed(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return elapsed


def measure(url: str, rounds: int, tickets: int) -> dict:
    engine = get_engine(url)
    init_tables(engine)
    result = {"seed": seed(engine, tickets, 0)}
    print(json.dumps(result["seed"]), flush=True)
    roster.sync_staff(engine)
    try:
        result.update(serve_and_measure(engine, url, rounds, figures=True))
        # the same queue with its counts computed on every request (counts_reused_seconds: 0)
        config = Path(tempfile.mkdtemp(prefix="linli-console-bench-")) / "workbench.yml"
        config.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8").replace(
            "counts_reused_seconds: 10", "counts_reused_seconds: 0"), encoding="utf-8")
        result["queue_counted_every_request_ms"] = serve_and_measure(engine, url, rounds, config=config)["queue_ms"]
    finally:
        engine.dispose()
    return result


def serve_and_measure(engine, url: str, rounds: int, figures: bool = False, config: Path | None = None) -> dict:
    result: dict = {}
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="linli-console-bench-")) / "console.log"
    env = {**os.environ, "LINLI_DATABASE_URL": url, "LINLI_CONSOLE_PORT": str(port), "LINLI_CONSOLE_HOST": "127.0.0.1",
           **({"LINLI_WORKBENCH_CONFIG": str(config)} if config else {})}
    server = subprocess.Popen([sys.executable, "-m", "bot.workbench.server"], cwd=ROOT, env=env,
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        client = httpx.Client(base_url=base, timeout=60)
        token = auth.create_link(engine, "staff", "wecom", "wangyuan-street-duty", datetime.now(timezone.utc))
        assert client.post("/login", data={"t": token}).status_code in (200, 303)
        load_before = os.getloadavg()
        for path in QUEUES.values():  # one warm-up each: first-use costs (templates, query plans) are not the queue's
            timed(client, path)
        queue: dict = {name: [] for name in QUEUES}
        for _ in range(rounds):
            for name, path in QUEUES.items():
                queue[name].append(timed(client, path))
        every = [t for times in queue.values() for t in times]
        result["queue_ms"] = {"requests": len(every), "p50": round(statistics.median(every), 1),
                              "p99": round(percentile(every, 0.99), 1), "max": round(max(every), 1),
                              "by_filter_p50_p99": {name: [round(statistics.median(t), 1), round(percentile(t, 0.99), 1)]
                                                    for name, t in queue.items()}}
        if figures:
            result["figures_ms"] = {}
            for name, path in FIGURES.items():
                cold = timed(client, path)
                warm = [timed(client, path) for _ in range(5)]
                result["figures_ms"][name] = {"cold": round(cold, 1), "warm_p50": round(statistics.median(warm), 1),
                                              "warm_max": round(max(warm), 1)}
            csv_started = time.perf_counter()
            response = client.get("/tickets.csv?community=望园社区")
            result["csv"] = {"rows": response.text.count("\n") - 1,
                             "ms": round((time.perf_counter() - csv_started) * 1000)}
        result["load_before"], result["load_after"] = load_before, os.getloadavg()
    finally:
        server.terminate()
        server.wait(15)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30, help="requests per queue filter")
    args = parser.parse_args()
    with scratch_schema("linli_bench_console") as url:
        result = measure(url, args.rounds, args.tickets)
    result.update(tickets=args.tickets, machine=f"{os.cpu_count()} cpu, {platform.machine()}, Python "
                  f"{platform.python_version()}", at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    print(json.dumps(result, ensure_ascii=False, indent=1), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
