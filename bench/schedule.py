"""Scheduled work at scale: many pending follow-ups, then thousands due at once, delivered through Rasa.

Phase 1, schedule: ``--pending`` resolved tickets are bulk-inserted into PostgreSQL (not measured);
then each gets its follow-up planned exactly as ``linli tickets resolve`` and the sweep plan it
(``followups.plan``: a follow-up row and a job in the job store). Measured: time, the process's
memory, the job store's size.

Phase 2, fire: a Linli stack (Rasa server with the REST channel and Redis tracker/lock stores, action
server) on the same database; the scheduler starts on a clock shortly before the first ``--due``
follow-ups are due and then jumps to their due time, the rest stay pending. Each follow-up is a
``trigger_intent`` into the resident's conversation, answered by ``action_followup_ask`` (a ticket
read) and returned through the REST channel's collector. Measured: lateness (delivery confirmed −
due time) p50/p99/max and delivery throughput.

    python bench/schedule.py --pending 100000 --due 10000            # the figures in BENCHMARKS.md
    python bench/schedule.py --pending 2000 --due 200 --store sql    # a quick look, jobs in PostgreSQL

Results are printed and appended as JSON lines to bench/results/schedule.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config.policy import get_policy
from bot.core.clock import utcnow
from bot.core.db import get_engine, init_db
from bot.messaging.delivery import DeliveryRecord
from bot.runtime import scheduler as _registers_workflows  # noqa: F401 - the workflows register their jobs
from bot.scheduling.scheduler import Scheduler
from bot.scheduling.settings import SchedulerSettings
from bot.tickets.models import Ticket, TicketEvent
from bot.tickets.store import TicketStore
from bot.workflows import planning
from tests.fixtures_db import scratch_schema  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/13"
BEIJING = ZoneInfo("Asia/Shanghai")
FIRE_AT = datetime(2026, 11, 24, 10, 0, tzinfo=BEIJING).astimezone(timezone.utc)
RESULTS = Path(__file__).resolve().parent / "results" / "schedule.jsonl"


class ShiftedClock:
    """Real time moved by an offset: time passes as it does, and can jump ahead."""

    def __init__(self, start: datetime) -> None:
        self.offset = start - utcnow()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def jump_to(self, moment: datetime) -> None:
        self.offset = moment - utcnow()


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def insert_resolved_tickets(engine, pending: int, due: int) -> list[str]:
    """The first ``due`` tickets were resolved a day before FIRE_AT, the others later on (their
    follow-ups come in the following days)."""
    ids, tickets, events = [], [], []
    for i in range(pending):
        ticket_id = f"GD{(date(2026, 1, 1) + timedelta(days=i // 9000)):%Y%m%d}{i % 9000 + 1:04d}"
        resolved = FIRE_AT - timedelta(days=1) if i < due else FIRE_AT + timedelta(hours=1 + i % 72)
        created = resolved - timedelta(days=2)
        ids.append(ticket_id)
        tickets.append({"id": ticket_id, "category": "leak", "community": "万柳西园社区", "building": "5",
                        "description": "屋顶漏水，下雨就滴", "photos": [], "reporter_channel": "rest",
                        "reporter_id": f"bench-{i}", "source": "resident", "handler_kind": "property_company",
                        "handler_name": "首华物业", "tier": "community", "deadline_class": "ordinary",
                        "deadline": created + timedelta(days=7), "status": "resolved", "created_at": created,
                        "updated_at": resolved, "first_response_at": resolved})
        events += [{"ticket_id": ticket_id, "at": created, "actor": f"rest:bench-{i}", "action": "created",
                    "to_status": "new"},
                   {"ticket_id": ticket_id, "at": resolved, "actor": "staff:bench", "action": "resolved",
                    "from_status": "dispatched", "to_status": "resolved", "note": "已修好"}]
    with engine.begin() as connection:
        for start in range(0, pending, 5000):
            connection.execute(insert(Ticket), tickets[start:start + 5000])
        for start in range(0, len(events), 10000):
            connection.execute(insert(TicketEvent), events[start:start + 10000])
    return ids


def store_size(scheduler: Scheduler, engine, redis_client, prefix: str) -> dict:
    with engine.connect() as connection:
        followup_table = connection.execute(text("SELECT pg_total_relation_size('followups')")).scalar()
        jobs_table = (connection.execute(text("SELECT pg_total_relation_size('linli_jobs')")).scalar()
                      if not scheduler.settings.redis_url else None)
    if scheduler.settings.redis_url:
        jobs = sum(redis_client.memory_usage(f"{prefix}:{key}", samples=0) or 0 for key in ("jobs", "run_times"))
    else:
        jobs = jobs_table
    return {"job_store_mb": round(jobs / 2**20, 1), "followups_table_mb": round(followup_table / 2**20, 1)}


def schedule_phase(scheduler: Scheduler, store: TicketStore, ids: list[str], threads: int) -> dict:
    """Each ticket read and planned as the sweep does it, on ``threads`` threads."""
    context = scheduler.planning_context(store)
    before = rss_mb()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda ticket_id: planning.plan(context, store.get(ticket_id)), ids, chunksize=100):
            pass
    elapsed = time.perf_counter() - started
    return {"pending": len(ids), "threads": threads, "schedule_s": round(elapsed, 1),
            "followups_per_s": round(len(ids) / elapsed), "rss_before_mb": round(before, 1),
            "rss_after_mb": round(rss_mb(), 1)}


def fire_phase(args, url: str, settings: SchedulerSettings, engine, prefix: str) -> dict:
    from tests.stack import start_stack

    stack = start_stack(Path(tempfile.mkdtemp(prefix="linli-bench-")), database_url=url, redis_url=REDIS_URL)
    clock = ShiftedClock(FIRE_AT - timedelta(minutes=5))
    runner = Scheduler(replace(settings, rasa_url=stack.url), clock=clock, engine=engine)
    try:
        started = time.perf_counter()
        runner.start()
        runner.wait_idle(600)  # the start-up sweep over every resolved ticket
        sweep_s = time.perf_counter() - started
        rss_running = rss_mb()
        clock.jump_to(FIRE_AT)
        runner.wakeup()
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                done = connection.execute(select(func.count()).select_from(DeliveryRecord).where(
                    DeliveryRecord.key.startswith("followup:"), DeliveryRecord.status != "sending")).scalar()
            if done >= args.due:
                break
            time.sleep(0.5)
        with engine.connect() as connection:
            rows = connection.execute(select(DeliveryRecord.status, DeliveryRecord.sent_at).where(
                DeliveryRecord.key.startswith("followup:"))).all()
    finally:
        runner.stop()
        stack.stop()
    lateness = [(sent - FIRE_AT).total_seconds() for status, sent in rows if status == "sent"]
    return {"due": args.due, "delivered": len(lateness), "failed": sum(1 for s, _ in rows if s == "failed"),
            "startup_sweep_s": round(sweep_s, 1), "runner_rss_mb": round(rss_running, 1),
            "lateness_p50_s": round(percentile(lateness, 0.5), 2), "lateness_p99_s": round(percentile(lateness, 0.99), 2),
            "lateness_max_s": round(max(lateness), 2),
            "deliveries_per_s": round(len(lateness) / max(lateness), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--store", choices=["redis", "sql"], default="redis")
    parser.add_argument("--workers", type=int, default=16, help="scheduler threads delivering at once")
    parser.add_argument("--threads", type=int, default=4, help="threads planning follow-ups in phase 1")
    parser.add_argument("--skip-fire", action="store_true")
    args = parser.parse_args()

    with scratch_schema("linli_bench") as url:
        result = run(args, url)
    result.update({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
                   "cpus": os.cpu_count()})
    print(json.dumps(result, ensure_ascii=False))
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(result, ensure_ascii=False) + "\n")


def run(args, url: str) -> dict:
    prefix = f"linli-bench-{uuid.uuid4().hex[:8]}"
    redis_client = redis.Redis.from_url(REDIS_URL)
    engine = get_engine(url)
    try:
        init_db(engine)
        ids = insert_resolved_tickets(engine, args.pending, args.due)
        settings = SchedulerSettings(database_url=url, redis_url=REDIS_URL if args.store == "redis" else None,
                                     rasa_url="http://127.0.0.1:1", api_token=None, timezone="Asia/Shanghai",
                                     key_prefix=prefix, workers=args.workers)
        writer = Scheduler(settings, clock=ShiftedClock(FIRE_AT - timedelta(days=1)), engine=engine,
                           policy=get_policy()).open()
        result = {"store": args.store,
                  **schedule_phase(writer, TicketStore(engine=engine, clock=writer.clock), ids, args.threads)}
        result.update(store_size(writer, engine, redis_client, prefix))
        writer.stop(release=False)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        if not args.skip_fire:
            result.update(fire_phase(args, url, settings, engine, prefix))
    finally:
        engine.dispose()
        for key in redis_client.scan_iter(f"{prefix}:*"):
            redis_client.delete(key)
        redis_client.flushdb()  # database 13 belongs to this benchmark (the stack's trackers too)
    return result


if __name__ == "__main__":
    main()
