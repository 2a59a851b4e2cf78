"""The fault suite: 20 residents at once confirm complaints on a stack started as `linli run --workers 2`
starts it (PostgreSQL, its own Redis), while the action server, a Rasa worker, the scheduler and Redis
are killed with SIGKILL at random.

Residents behave as people do: a reply saying the system is busy, or no reply at all, makes them send
the same message again a little later; a confirmation no longer understood makes them ask "查进度"
(the ticket may have been filed while its reply was lost) and, when it shows none, tell the
complaint again. Afterwards: every ticket number shown to a resident is that
resident's only ticket (none doubled), every resident who kept confirming got one (none silently
dropped), and once the stack has recovered every open ticket has its deadline jobs again. The
figures go to ``$LINLI_FAULTS_REPORT`` (JSON) when set, for BENCHMARKS.md.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, select

from bot.config.runtime import runtime_config
from bot.core.settings import PROJECT_ROOT
from bot.tickets.models import Ticket
from bot.tickets.status import OPEN_VALUES
from tests.faults.conftest import PrivateRedis
from tests.fixtures_db import scratch_schema
from tests.stack import free_port

pytestmark = pytest.mark.slow

RESIDENTS = 20
ROUNDS = 3                 # reports per resident slot, one resident each (r<round>-<slot>)
KILLS = 8
KILL_EVERY = (1.0, 2.5)    # seconds between kills, at random: several land while the residents confirm
TICKET = re.compile(r"GD\d{12}")
#: Each slot reports in its own building, and each round another kind of problem, so no report is
#: offered another's ticket as the same problem (the duplicate question has its own tests).
REPORTS = ("{community}{building}号楼2单元502屋顶漏水了，下雨就往下滴，电话13812345678",
           "{community}{building}号楼3单元电梯坏了 电话13812349876",
           "{community}{building}号楼2单元楼道里堆满了杂物 电话13912345678")
PLACES = [(community, building) for community, buildings in (("万柳西园", range(1, 13)), ("望园", range(1, 9)))
          for building in buildings]


@dataclass
class Figures:
    kills: dict = field(default_factory=dict)
    confirmations: int = 0          # "确认" sent (first attempts and retries)
    shown: dict = field(default_factory=dict)   # resident -> ticket id shown
    busy_replies: int = 0
    no_reply: int = 0               # connection reset or timeout (a killed worker)
    conversation_lost: int = 0      # "确认" not understood: its reply was lost, or the conversation with Redis
    recovered_by_progress: int = 0  # ... and "查进度" showed the ticket filed
    dropped: list = field(default_factory=list)  # residents who never got a ticket number
    recovery_seconds: list = field(default_factory=list)  # per kill: until every part answers again
    jobs_missing: list = field(default_factory=list)


def proc_children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


class Resident:
    """One person with one complaint, who keeps trying until Linli gives a ticket number."""

    def __init__(self, url: str, name: str, report: str, figures: Figures, lock: threading.Lock) -> None:
        self.url, self.name, self.figures, self.lock, self.report = url, name, figures, lock, report

    def say(self, text: str) -> str | None:
        try:
            response = httpx.post(f"{self.url}/webhooks/rest/webhook", json={"sender": self.name, "message": text},
                                  timeout=30)
            response.raise_for_status()
            return "\n".join(m.get("text", "") for m in response.json())
        except (httpx.HTTPError, ValueError):
            return None

    def count(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self.figures, name, getattr(self.figures, name) + amount)

    def run(self, give_up_at: float) -> None:
        message, confirming = self.report, False
        while time.monotonic() < give_up_at:
            if confirming:
                self.count("confirmations")
            reply = self.say(message)
            if reply is None or reply.strip() == runtime_config().system_busy:
                self.count("no_reply" if reply is None else "busy_replies")
                time.sleep(random.uniform(1.0, 2.0))  # a person sending it again a moment later
                continue
            found = TICKET.search(reply)
            if confirming and found:
                with self.lock:
                    self.figures.shown[self.name] = found.group(0)
                return
            if "请您确认" in reply:
                message, confirming = "确认", True
                continue
            if confirming:
                # Not understood: the report is no longer in progress. Either its reply was lost
                # (no answer, then the turn finished and filed it) or the conversation was lost with
                # the Redis restarted empty. The resident asks "查进度" before telling it again.
                self.count("conversation_lost")
                progress = self.say("查进度")
                found = TICKET.search(progress or "")
                if found:
                    self.count("recovered_by_progress")
                    with self.lock:
                        self.figures.shown[self.name] = found.group(0)
                    return
            message, confirming = self.report, False  # the report was not understood: start again
        with self.lock:
            self.figures.dropped.append((self.name, "gave up: no ticket in time"))


class Killer(threading.Thread):
    """kill -9 of a random part every few seconds; Redis is started again, empty, by the test (the
    supervisor restarts the others)."""

    TARGETS = ("actions", "rasa-worker", "scheduler", "redis")

    def __init__(self, health_url: str, rasa_url: str, private_redis: PrivateRedis, figures: Figures) -> None:
        super().__init__(daemon=True)
        self.health_url, self.rasa_url, self.redis, self.figures = health_url, rasa_url, private_redis, figures
        self.stop = threading.Event()

    def pid_of(self, target: str) -> int | None:
        children = httpx.get(self.health_url, timeout=5).json()["children"]
        if target == "rasa-worker":
            master = children["rasa"]["pid"]
            workers = proc_children(master) if master else []
            return random.choice(workers) if workers else None
        return children[target]["pid"]

    def run(self) -> None:
        for number in range(KILLS):
            if self.stop.wait(random.uniform(*KILL_EVERY)):
                return
            target = self.TARGETS[number % len(self.TARGETS)] if number < len(self.TARGETS) else \
                random.choice(self.TARGETS)
            if target == "redis":
                self.redis.kill()
                self.stop.wait(2.0)  # an outage, then Redis is back with nothing in it
                self.redis.start()
            else:
                try:
                    pid = self.pid_of(target)
                except (httpx.HTTPError, KeyError):
                    pid = None
                if not pid:
                    continue
                os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            self.figures.kills[target] = self.figures.kills.get(target, 0) + 1
            wait_until(lambda: self.whole(), 120, f"recovery after killing {target}")
            self.figures.recovery_seconds.append(round(time.monotonic() - killed, 1))

    def whole(self) -> bool:
        """Every process up, both Rasa workers there, and a turn that calls the action server answered."""
        report = httpx.get(self.health_url, timeout=2)
        if report.status_code != 200 or len(proc_children(report.json()["children"]["rasa"]["pid"])) < 2:
            return False
        reply = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": "faults-probe", "message": "查进度"},
                           timeout=10).json()
        return bool(reply) and reply[0].get("text") != runtime_config().system_busy


def wait_until(condition, timeout: float, message: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if condition():
                return time.monotonic() - start
        except (httpx.HTTPError, redis.RedisError, ValueError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"{message} not within {timeout:.0f} s")


@pytest.fixture
def linli_run(tmp_path, pg_schema):
    private_redis = PrivateRedis(tmp_path)
    private_redis.start()
    with scratch_schema(f"{pg_schema}_faults") as database_url:
        env = {**os.environ, "LINLI_VAR_DIR": str(tmp_path / "var"), "LINLI_DATABASE_URL": database_url,
               "LINLI_REDIS_URL": private_redis.url, "LINLI_RASA_PORT": str(free_port()),
               "LINLI_ACTION_PORT": str(free_port()), "LINLI_HEALTH_PORT": str(free_port()),
               "LINLI_CONSOLE_PORT": str(free_port()), "LINLI_API_TOKEN": "faults-token",
               # Residents talk through Linli's REST channel, on this machine only (as `linli run` allows).
               "LINLI_REST": "on", "LINLI_RASA_HOST": "127.0.0.1",
               "LINLI_SCHEDULER_SWEEP_SECONDS": "5", "LINLI_SCHEDULER_LEASE_SECONDS": "4",
               "LINLI_SCHEDULER_KEY_PREFIX": "linlifaults", "PYTHONPATH": str(PROJECT_ROOT)}
        env.pop("LINLI_CREDENTIALS", None)
        log = open(tmp_path / "run.log", "wb")
        process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "run", "--workers", "2"], cwd=PROJECT_ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield env, process, private_redis
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            private_redis.kill()


def test_residents_confirming_while_parts_are_killed(linli_run, tmp_path):
    env, process, private_redis = linli_run
    rasa, health = f"http://127.0.0.1:{env['LINLI_RASA_PORT']}", f"http://127.0.0.1:{env['LINLI_HEALTH_PORT']}/health"
    try:
        wait_until(lambda: httpx.get(f"{rasa}/status", params={"token": "faults-token"}, timeout=2).json()
                   .get("model_file") and httpx.get(health, timeout=2).status_code == 200, 300, "linli run up")
    except AssertionError:
        raise AssertionError("linli run did not start:\n" + (tmp_path / "run.log").read_text(errors="replace")[-4000:]) from None
    figures, lock = Figures(), threading.Lock()
    killer = Killer(health, rasa, private_redis, figures)
    started = time.monotonic()
    killer.start()
    for round_ in range(ROUNDS):
        give_up_at = time.monotonic() + 150
        residents = [Resident(rasa, f"faults-r{round_}-{slot}",
                              REPORTS[round_ % len(REPORTS)].format(community=community, building=building),
                              figures, lock) for slot, (community, building) in enumerate(PLACES[:RESIDENTS])]
        threads = [threading.Thread(target=r.run, args=(give_up_at,)) for r in residents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(200)
    killer.stop.set()
    killer.join(150)
    load_seconds = time.monotonic() - started

    engine = create_engine(env["LINLI_DATABASE_URL"], future=True)
    with engine.begin() as connection:
        rows = connection.execute(select(Ticket.id, Ticket.reporter_id).where(Ticket.status.in_(OPEN_VALUES))).all()
    engine.dispose()
    by_resident: dict = {}
    for ticket_id, reporter in rows:  # REST conversations are "rest:<sender>" in production
        by_resident.setdefault(reporter.removeprefix("rest:"), []).append(ticket_id)
    duplicated = {name: ids for name, ids in by_resident.items() if len(ids) > 1}
    unshown = {name: ids for name, ids in by_resident.items() if name not in figures.shown}
    wrong = {name: (shown, by_resident.get(name)) for name, shown in figures.shown.items()
             if by_resident.get(name) != [shown]}

    jobs = redis.Redis(port=private_redis.port)
    wanted = {f"deadline:{ticket_id}:{step}".encode() for ticket_id, _ in rows for step in ("remind", "overdue")}
    try:
        wait_until(lambda: wanted <= set(jobs.hkeys("linlifaults:jobs")), 90, "every open ticket's deadline jobs")
    except AssertionError:
        figures.jobs_missing = sorted(k.decode() for k in wanted - set(jobs.hkeys("linlifaults:jobs")))[:20]

    result = {"kills": figures.kills, "residents": RESIDENTS * ROUNDS, "concurrent": RESIDENTS,
              "confirmations_sent": figures.confirmations, "tickets_shown": len(figures.shown),
              "busy_replies": figures.busy_replies, "no_reply": figures.no_reply,
              "conversation_lost": figures.conversation_lost,
              "recovered_by_progress": figures.recovered_by_progress, "dropped": len(figures.dropped), "duplicated": len(duplicated), "filed_but_never_shown": len(unshown),
              "recovery_seconds": figures.recovery_seconds, "load_seconds": round(load_seconds, 1),
              "open_tickets_missing_jobs": len(figures.jobs_missing)}
    print(json.dumps(result, ensure_ascii=False))
    if os.environ.get("LINLI_FAULTS_REPORT"):
        Path(os.environ["LINLI_FAULTS_REPORT"]).write_text(json.dumps(result, ensure_ascii=False, indent=2))
    assert sum(figures.kills.values()) >= 4, f"too few kills to mean anything: {figures.kills}"
    assert not duplicated, f"doubled tickets: {duplicated}"
    assert not wrong, f"a ticket shown is not that resident's one ticket: {wrong}"
    assert not figures.dropped, f"confirmations dropped: {figures.dropped}"
    assert len(figures.shown) == RESIDENTS * ROUNDS
    assert not figures.jobs_missing, f"open tickets without deadline jobs: {figures.jobs_missing}"
