"""The monthly staff report on a busy street: `linli report --period month` over 100,000 tickets.

Seed (not measured): ``--tickets`` tickets in September 2026 and ``--previous`` in August (the trends
compare with it) are bulk-inserted into a fresh PostgreSQL schema with their history (created,
dispatched, and for most a handler's first response, also kept on the ticket as the store keeps it),
follow-ups for the resolved and closed ones, and 80,000 reporters plus 200 who report again and
again. Then the schema is ANALYZEd.

Measured: ``linli report --period month --as-of 2026-09-30`` run as its own process ``--runs`` times
(wall time, and the process's CPU time and peak RSS from wait4), and once in-process step by step (figures, each
file) to show where the time goes.

    python bench/report.py                                   # the figures in BENCHMARKS.md
    python bench/report.py --tickets 5000 --previous 2000    # a quick look

Results are printed and appended as JSON lines to bench/results/report.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import report
from bot.config.directory import get_directory
from bot.config.policy import get_policy
from bot.core.db import get_engine, init_db
from bot.core.settings import PROJECT_ROOT, get_settings
from bot.reports import writers
from bot.reports.period import Period, as_of_moment, gather
from bot.tickets.dispatch import dispatch
from bot.tickets.models import Ticket, TicketEvent
from bot.workflows.followups import FollowUp
from tests.fixtures_db import scratch_schema  # noqa: E402

BEIJING = ZoneInfo("Asia/Shanghai")
MONTH, PREVIOUS_MONTH = date(2026, 9, 1), date(2026, 8, 1)
AS_OF = "2026-09-30"
RESULTS = Path(__file__).resolve().parent / "results" / "report.jsonl"
CHANNELS = ("wechat", "wechat", "wechat", "linli_telegram", "wecom")
STATUSES = (("closed", 45), ("dispatched", 25), ("in_progress", 12), ("resolved", 10), ("reopened", 5), ("new", 3))
DESCRIPTIONS = ("屋顶漏水，502室天花板往下滴，电话13812345678", "电梯又停了，困在两层中间一会儿", "楼道里堆满了纸箱子",
                "楼下装修太吵，晚上十点还在砸墙", "小区门口积水很深", "垃圾桶好几天没人清")


class Seeder:
    """Random but repeatable tickets shaped like the sample street's (categories, buildings, handlers)."""

    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        directory = get_directory()
        self.service = directory.service
        self.categories = list(self.service.categories)
        self.weights = [max(1, 14 - i) for i in range(len(self.categories))]  # leaks most, "other" least
        self.places = [(c.name, b) for c in directory.communities for b in c.buildings]
        self.directory = directory
        self.sequences: dict = {}

    def reporter(self) -> tuple[str, str]:
        """80,000 residents, and 200 who file a tenth of all tickets between them."""
        who = self.random.randrange(200) if self.random.random() < 0.1 else 200 + self.random.randrange(80_000)
        return CHANNELS[who % len(CHANNELS)], f"resident-{who:06d}"

    def ticket(self, first: date, days: int) -> tuple[dict, list[dict], list[dict]]:
        created = datetime.combine(first, datetime.min.time(), BEIJING) + timedelta(
            seconds=self.random.randrange(days * 86400))
        day = created.strftime("%Y%m%d")
        self.sequences[day] = self.sequences.get(day, 0) + 1
        ticket_id = f"GD{day}{self.sequences[day]:04d}"
        category = self.random.choices(self.categories, self.weights)[0]
        community, building = self.random.choice(self.places) if self.random.random() > 0.02 else (None, None)
        routed = dispatch(self.directory, category, community, building, "", created.astimezone(timezone.utc))
        status = self.random.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        channel, sender = self.reporter()
        created = created.astimezone(timezone.utc)
        ticket = {"id": ticket_id, "category": category, "community": community, "building": building,
                  "unit": str(self.random.randint(1, 6)), "room": f"{self.random.randint(1, 18)}0{self.random.randint(1, 4)}",
                  "description": self.random.choice(DESCRIPTIONS), "photos": [], "phone": f"139{self.random.randrange(10**8):08d}",
                  "reporter_channel": channel, "reporter_id": sender, "source": "resident",
                  "handler_kind": routed.handler_kind, "handler_name": routed.handler_name, "tier": routed.tier,
                  "deadline_class": routed.deadline_class, "deadline": routed.deadline, "status": status,
                  "created_at": created, "updated_at": created, "first_response_at": None}
        events = [{"ticket_id": ticket_id, "at": created, "actor": f"{channel}:{sender}", "action": "created",
                   "from_status": None, "to_status": "new"},
                  {"ticket_id": ticket_id, "at": created, "actor": "linli", "action": "dispatched",
                   "from_status": "new", "to_status": "dispatched"}]
        if status != "new" and self.random.random() < 0.8:
            started = created + timedelta(hours=self.random.uniform(0.2, 30))
            events.append({"ticket_id": ticket_id, "at": started, "actor": "staff:bench", "action": "in_progress",
                           "from_status": "dispatched", "to_status": "in_progress"})
            ticket["first_response_at"] = started  # as the store stamps it with that step
        followups = []
        if status in ("closed", "resolved", "reopened"):
            closed = created + timedelta(days=self.random.uniform(1, 6))
            answered = status != "resolved" and self.random.random() < 0.85
            solved = self.random.choice(("solved", "solved", "solved", "partly", "unsolved")) if answered else None
            followups.append({"ticket_id": ticket_id, "round": 1, "channel": channel, "sender_id": sender,
                              "status": ("answered" if answered else "no_answer") if status != "resolved" else "asked",
                              "due_at": closed, "asked_at": closed, "answered_at": closed if answered else None,
                              "closed_at": closed if status != "resolved" else None, "solved": solved,
                              "satisfaction": self.random.choice(("satisfied", "satisfied", "basically", "dissatisfied"))
                              if answered else None})
        return ticket, events, followups


def seed(engine, tickets: int, previous: int) -> dict:
    seeder = Seeder()
    started = time.perf_counter()
    rows: dict = {"tickets": [], "events": [], "followups": []}
    for first, count in ((PREVIOUS_MONTH, previous), (MONTH, tickets)):
        days = 30 if first == MONTH else 31
        for _ in range(count):
            ticket, events, followups = seeder.ticket(first, days)
            rows["tickets"].append(ticket)
            rows["events"] += events
            rows["followups"] += followups
    with engine.begin() as connection:
        for model, key in ((Ticket, "tickets"), (TicketEvent, "events"), (FollowUp, "followups")):
            for start in range(0, len(rows[key]), 10_000):
                connection.execute(insert(model), rows[key][start:start + 10_000])
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return {key: len(value) for key, value in rows.items()} | {"seed_s": round(time.perf_counter() - started, 1)}


#: Runs a command and prints its wall time and peak RSS. A small process of its own, because a
#: child's ru_maxrss also counts the memory of the process that spawned it (vfork, then exec), and
#: this benchmark's own process holds the whole seed at its peak.
MEASURE = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"wall_s": round(time.perf_counter() - started, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                  "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                  "exit": os.waitstatus_to_exitcode(status), "stdout": child.stdout.read().decode().strip(),
                  "stderr": child.stderr.read().decode()[-2000:]}, ensure_ascii=False))
"""


def run_cli(url: str, out: Path) -> dict:
    """One `linli report` process: wall time, its CPU time (user + system) and peak resident memory."""
    measured = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "bot.cli", "report", "--period",
                               "month", "--as-of", AS_OF, "--out", str(out)], cwd=PROJECT_ROOT,
                              env={**os.environ, "LINLI_DATABASE_URL": url}, capture_output=True, text=True, check=True)
    result = json.loads(measured.stdout)
    if result.pop("exit") != 0:
        raise SystemExit(f"linli report failed: {result['stderr']}")
    del result["stderr"]
    return result


def steps(engine, out: Path) -> dict:
    """The same report in-process, timed step by step."""
    settings, directory = get_settings(), get_directory()
    config = report.ReportConfig.load(settings.service_path, directory.service)
    period = Period.ending_by("month", date.fromisoformat(AS_OF))
    as_of = as_of_moment(period.last, BEIJING, datetime.now(timezone.utc))
    timings = {}
    started = time.perf_counter()
    figures = gather(engine, period, BEIJING, as_of, config, get_policy().response_hours)
    timings["figures"] = round(time.perf_counter() - started, 2)
    out.mkdir(parents=True, exist_ok=True)
    for name, write in writers.writers(engine, figures, config, out, directory.street):
        started = time.perf_counter()
        write()
        timings[name] = round(time.perf_counter() - started, 2)
    return {"steps_s": timings, "csv_mb": round((out / "tickets.csv").stat().st_size / 2**20, 1),
            "month_tickets": figures.total, "overdue": figures.overdue_total,
            "high_frequency": {"places": figures.places.total, "kinds": figures.kinds.total,
                               "people": figures.people.total}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets in the report month")
    parser.add_argument("--previous", type=int, default=50_000, help="tickets in the month before")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the schema (its URL is printed)")
    args = parser.parse_args()

    with scratch_schema("linli_bench", keep=args.keep) as url:
        result = measure(args, url)
    print(json.dumps(result, ensure_ascii=False, indent=1), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(result, ensure_ascii=False) + "\n")


def measure(args, url: str) -> dict:
    engine = get_engine(url)
    out = Path(tempfile.mkdtemp(prefix="linli-report-bench-"))
    load_before = os.getloadavg()[0]
    try:
        init_db(engine)
        result = {"database": url, **seed(engine, args.tickets, args.previous)}
        print(json.dumps(result, ensure_ascii=False), flush=True)
        result["runs"] = [run_cli(url, out / f"run{i}") for i in range(args.runs)]
        result.update(steps(engine, out / "steps"))
        result.update(machine=f"{os.cpu_count()} cpu, {platform.machine()}, Python {platform.python_version()}",
                      load_before=load_before, at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        return result
    finally:
        engine.dispose()

if __name__ == "__main__":
    main()
