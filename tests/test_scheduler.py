"""The scheduler's reliability: persistent jobs across restarts (SQL and Redis stores), missed runs
coalesced within the grace, quiet hours, a lease so one of several processes runs jobs, takeover
when the active one is killed, and deliveries once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
import yaml
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config.policy import Policy, get_policy
from bot.core.clock import ManualClock, utcnow
from bot.core.db import get_engine, init_db
from bot.core.settings import PACKAGE_DATA, PROJECT_ROOT
from bot.scheduling.lease import LocalLease, RedisLease
from bot.scheduling.scheduler import Scheduler
from bot.scheduling.triggers import CatchUpInterval
from bot.tickets.store import TicketStore
from bot.workflows import followups, planning
from tests.scheduling import REDIS_URL, FakeRasa, beijing, settings_for, start_scheduler, wait_for

CALLS: list = []


def record(context, **kwargs):
    """A job target standing in for any scheduled work (a broadcast, say)."""
    CALLS.append((context.clock(), kwargs))


PLANNING = threading.Event()  # plan_later is under way


def plan_later(context, **kwargs):
    """A job that adds a job, as the sweep, retries and the quiet-hours deferral do; slowly, so the
    scheduler is asked to stop while it runs."""
    PLANNING.set()
    time.sleep(0.5)
    context.schedule.at("broadcast:later", "tests.test_scheduler:record", context.clock() + timedelta(days=1))


@pytest.fixture
def calls():
    CALLS.clear()
    yield CALLS
    CALLS.clear()


@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is needed for these tests and is not reachable: {error}")
    return client


@pytest.fixture
def prefix(redis_client):
    """Keys of one test in Redis database 12, removed afterwards."""
    name = f"linli-test-{uuid.uuid4().hex[:8]}"
    yield name
    for key in redis_client.scan_iter(f"{name}:*"):
        redis_client.delete(key)


@pytest.fixture(params=["sql", "redis"])
def store_url(request, redis_client):
    return REDIS_URL if request.param == "redis" else None


def resolved_tickets(engine, clock, count):
    store = TicketStore(engine=engine, clock=clock)
    ids = []
    for i in range(count):
        ticket = store.create(category="leak", description="屋顶漏水", reporter_channel="rest",
                              reporter_id=f"resident-{i}", community="望园", building="2")
        ids.append(store.transition(ticket.id, "resolved", "staff:wang").id)
    return store, ids


# -- the Redis URL ---------------------------------------------------------------------------------

def test_the_redis_url_is_read_whole_by_redis_py(redis_client, prefix):
    """The scheduler's client, its job store and Rasa's stores read LINLI_REDIS_URL as redis-py does:
    TLS for rediss://, the user name, the database; and the job store really uses that database."""
    from apscheduler.jobstores.redis import RedisJobStore

    from bot.core import redis as redis_settings
    from bot.runtime.processes import _redis_store

    url = "rediss://linli:s%40cret@redis.example:6390/3"
    pool = redis_settings.job_store_options(url)["connection_pool"]
    assert pool.connection_class is redis.SSLConnection
    assert {k: pool.connection_kwargs[k] for k in ("host", "port", "db", "username", "password")} == {
        "host": "redis.example", "port": 6390, "db": 3, "username": "linli", "password": "s@cret"}
    assert redis_settings.client(url).connection_pool.connection_kwargs["username"] == "linli"
    assert _redis_store(url, "lock") == {"type": "redis", "url": "redis.example", "port": 6390, "db": 3,
                                         "username": "linli", "password": "s@cret", "use_ssl": True,
                                         "key_prefix": "linlilock"}
    assert _redis_store("redis://127.0.0.1:6379", "tracker") == {"type": "redis", "url": "127.0.0.1", "port": 6379,
                                                                 "db": 0, "key_prefix": "linlitracker"}
    store = RedisJobStore(jobs_key=f"{prefix}:jobs", run_times_key=f"{prefix}:run_times",
                          **redis_settings.job_store_options(REDIS_URL))
    store.redis.hset(f"{prefix}:jobs", "probe", b"x")
    assert redis_client.hget(f"{prefix}:jobs", "probe") == b"x"  # database 12, not the store's default 0


# -- the lease ------------------------------------------------------------------------------------

def test_a_lease_is_held_by_one_owner_until_it_expires_or_is_released(redis_client, prefix):
    """TTLs far longer than the test where a lease must hold; where it must run out, its holder's
    last renewal is a short one (as a holder that paused past its TTL), and the test waits for the
    key itself to go, not for a while."""
    key = f"{prefix}:lease"
    first, second = RedisLease(redis_client, key, 60.0), RedisLease(redis_client, key, 60.0)
    assert first.hold() and not second.hold()
    redis_client.pexpire(key, 5_000)
    assert first.hold(), "the holder renews"
    assert redis_client.pttl(key) > 5_000, "a renewal is a whole TTL again"
    assert RedisLease(redis_client, key, 0.2, owner=first.owner).hold()  # its last renewal
    wait_for(lambda: not redis_client.exists(key), timeout=10, message="the lease running out")
    assert second.hold() and not first.hold(), "expired: the other takes it; the old holder cannot extend it"
    first.release()
    assert second.holder() == second.owner
    second.release()
    assert second.holder() is None and LocalLease().hold()


class WatchedLease(RedisLease):
    """A standby's lease that records each look: who held the lease just before, and whether the
    look took it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.looks: list[tuple] = []

    def hold(self) -> bool:
        before = self.holder()
        held = super().hold()
        self.looks.append((before, held))
        return held


def test_two_schedulers_one_active_and_the_standby_takes_over(sqlite_engine, rasa, prefix, redis_client):
    clock, key = ManualClock(utcnow()), f"{prefix}:lease"

    def scheduler(lease) -> Scheduler:
        settings = settings_for(str(sqlite_engine.url), rasa.url, REDIS_URL, key_prefix=prefix, lease_seconds=1.0)
        return Scheduler(settings, clock=clock, policy=get_policy(), engine=sqlite_engine, lease=lease).start()

    first = scheduler(RedisLease(redis_client, key, 60.0))  # renewed every 0.25 s; held whatever the load
    standby = WatchedLease(redis_client, key, 1.0)
    second = None
    try:
        wait_for(lambda: first.active, message="the first scheduler active")
        second = scheduler(standby)
        wait_for(lambda: len(standby.looks) >= 3, message="the standby looking three times")
        assert first.active and not second.active
        assert all(looked == (first.lease.owner, False) for looked in standby.looks), standby.looks
        first.stop(release=False)  # as if it died ...
        died_at = len(standby.looks)
        redis_client.pexpire(key, 200)  # ... and its lease ran out (in 0.2 s rather than 60)
        wait_for(lambda: second.active, timeout=10, message="takeover")
        assert redis_client.get(key).decode() == standby.owner
        assert not any(held for _, held in standby.looks[:died_at]), "taken while the first still held it"
        assert all(held for before, held in standby.looks if before is None), \
            "a look that found the lease free did not take it: " + repr(standby.looks)
    finally:
        for running in (first, second):
            if running is not None and running.active:
                running.stop()


# -- persistence ------------------------------------------------------------------------------------

def test_restart_with_jobs_pending_delivers_each_once(engine, rasa, store_url, prefix):
    clock = ManualClock(beijing("2026-11-23 10:00"))
    first = start_scheduler(engine, rasa.url, clock, store_url, key_prefix=prefix)
    store, ids = resolved_tickets(engine, clock, 20)
    for ticket_id in ids:
        planning.plan(first.context, store.get(ticket_id))
    first.stop()
    clock.advance(days=2)  # every follow-up came due while no scheduler ran
    second = start_scheduler(engine, rasa.url, clock, store_url, key_prefix=prefix)
    try:
        second.wait_idle()
        asked = rasa.named("EXTERNAL_followup")
        assert sorted(c.entities["ticket_id"] for c in asked) == sorted(ids)
        assert all(f.status == "asked" for t in ids for f in followups.followups(engine, t))
    finally:
        second.stop()
    third = start_scheduler(engine, rasa.url, clock, store_url, key_prefix=prefix)
    try:
        third.wait_idle()
        assert len(rasa.named("EXTERNAL_followup")) == 20, "a second restart sends nothing again"
    finally:
        third.stop()


def test_missed_recurring_runs_coalesce_into_one_and_stale_ones_are_skipped(sqlite_engine, rasa, calls, prefix):
    clock = ManualClock(beijing("2026-11-23 08:00"))
    first = start_scheduler(sqlite_engine, rasa.url, clock, key_prefix=prefix, misfire_grace_seconds=3600)
    first.every("test:every-10-min", "tests.test_scheduler:record", IntervalTrigger(minutes=10), quiet=False,
                job="interval")
    first.every("test:daily", "tests.test_scheduler:record", CronTrigger(hour=8, minute=30, timezone=first.policy.zone),
                quiet=False, job="daily")
    first.stop()
    for moment, expected in (("2026-11-23 08:55", ["daily", "interval"]),  # five interval runs missed: one
                             ("2026-11-24 11:00", ["interval"])):  # the daily run 2.5 h late: skipped
        calls.clear()
        clock.set(beijing(moment))
        again = start_scheduler(sqlite_engine, rasa.url, clock, key_prefix=prefix, misfire_grace_seconds=3600)
        again.wait_idle()
        again.stop()
        assert sorted(kw["job"] for _, kw in calls) == expected



def test_a_one_second_sweep_after_a_year_away_runs_once_at_once(sqlite_engine, rasa, calls, prefix):
    """A catch-up interval goes straight to the latest missed run: APScheduler's own would step through
    all 31 million missed seconds first, running nothing meanwhile."""
    clock = ManualClock(beijing("2025-11-23 08:00"))
    first = start_scheduler(sqlite_engine, rasa.url, clock, key_prefix=prefix, misfire_grace_seconds=3600)
    first.every("test:every-second", "tests.test_scheduler:record", CatchUpInterval(seconds=1), quiet=False,
                job="second")
    first.stop()
    calls.clear()
    clock.set(beijing("2026-11-23 08:00:00.500"))
    again = start_scheduler(sqlite_engine, rasa.url, clock, key_prefix=prefix, misfire_grace_seconds=3600)
    try:
        again.wait_idle(timeout=10)
        assert [kw["job"] for _, kw in calls] == ["second"]
        assert again.get("test:every-second").next_run == beijing("2026-11-23 08:00:01")
    finally:
        again.stop()

# -- running jobs ------------------------------------------------------------------------------------

def test_quiet_jobs_wait_for_the_morning_others_run_at_night(sqlite_engine, rasa, calls):
    clock = ManualClock(beijing("2026-11-23 21:00"))
    scheduler = start_scheduler(sqlite_engine, rasa.url, clock)
    try:
        scheduler.at("broadcast:quiet", "tests.test_scheduler:record", beijing("2026-11-23 23:00"), text="汛期通知")
        scheduler.at("broadcast:urgent", "tests.test_scheduler:record", beijing("2026-11-23 23:00"), quiet=False,
                     text="紧急停水")
        clock.set(beijing("2026-11-23 23:00"))
        scheduler.wait_idle()
        assert [(at, kw["text"]) for at, kw in calls] == [(beijing("2026-11-23 23:00"), "紧急停水")]
        clock.set(beijing("2026-11-24 08:00"))
        scheduler.wait_idle()
        assert [(at, kw["text"]) for at, kw in calls][1:] == [(beijing("2026-11-24 08:00"), "汛期通知")]
    finally:
        scheduler.stop()


def test_stopping_waits_for_a_job_that_adds_a_job_and_keeps_what_it_added(sqlite_engine, rasa, calls):
    clock = ManualClock(utcnow())
    scheduler = start_scheduler(sqlite_engine, rasa.url, clock)
    PLANNING.clear()
    scheduler.at("sweep:slow", "tests.test_scheduler:plan_later", clock(), quiet=False)
    assert PLANNING.wait(10), "the job never started"
    stopping = threading.Thread(target=scheduler.stop)
    stopping.start()
    stopping.join(30)
    assert not stopping.is_alive(), "stop() waited for ever on a job adding a job"
    reopened = Scheduler(scheduler.settings, clock=clock, engine=sqlite_engine).open()
    try:
        assert reopened.get("broadcast:later") is not None
    finally:
        reopened.stop(release=False)


def test_jobs_written_by_another_process_are_picked_up(sqlite_engine, rasa, calls, prefix):
    clock = ManualClock(utcnow())
    runner = start_scheduler(sqlite_engine, rasa.url, clock, REDIS_URL, key_prefix=prefix)
    writer = Scheduler(settings_for(str(sqlite_engine.url), rasa.url, REDIS_URL, key_prefix=prefix),
                       clock=clock, policy=get_policy(), engine=sqlite_engine).open()
    try:
        writer.at("broadcast:from-cli", "tests.test_scheduler:record", clock(), quiet=False, text="停电通知")
        wait_for(lambda: calls, timeout=5, message="the runner noticing the new job")
        assert calls[0][1] == {"text": "停电通知"}
        assert writer.get("broadcast:from-cli") is None
    finally:
        writer.stop(release=False)
        runner.stop()


# -- processes -------------------------------------------------------------------------------------

def _service_without_quiet_hours_now(tmp_path) -> str:
    """A service.yml whose quiet hours are a minute half a day away, so real-time jobs run now."""
    raw = yaml.safe_load((PACKAGE_DATA / "service.yml").read_text(encoding="utf-8"))
    far = (datetime.now(timezone.utc) + timedelta(hours=12)).astimezone(get_policy().zone)
    raw["quiet_hours"] = [far.strftime("%H:%M"), (far + timedelta(minutes=1)).strftime("%H:%M")]
    path = tmp_path / "service.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return str(path)


def _renewals(client, key: str, needed: int):
    """Yields True once the lease's TTL went back up ``needed`` times (its holder renewing it), else False."""
    seen, last = 0, client.pttl(key)
    while True:
        now = client.pttl(key)
        seen += now > last
        last = now
        yield seen >= needed


def _followups_settled(engine, client, prefix: str, count: int) -> bool:
    from sqlalchemy import select

    from bot.core.db import session_scope
    from bot.messaging.delivery import DeliveryRecord

    with session_scope(engine) as session:
        statuses = session.execute(select(DeliveryRecord.status).where(
            DeliveryRecord.intent == "EXTERNAL_followup")).scalars().all()
    asks = [job for job in client.hkeys(f"{prefix}:jobs") if job.startswith(b"followup:") and job.endswith(b":ask")]
    return len(statuses) == count and all(status == "sent" for status in statuses) and not asks


def test_killing_the_active_process_hands_its_jobs_to_the_standby_once(tmp_path, rasa, redis_client, prefix):
    database = f"sqlite:///{tmp_path / 'linli.db'}"
    env = {**os.environ, "LINLI_DATABASE_URL": database, "LINLI_REDIS_URL": REDIS_URL, "LINLI_RASA_URL": rasa.url,
           "LINLI_SCHEDULER_KEY_PREFIX": prefix, "LINLI_SCHEDULER_LEASE_SECONDS": "2",
           # Jobs the killed process had taken out of the store to run are planned again by the
           # standby's sweep, a sweep after they were due.
           "LINLI_SCHEDULER_SWEEP_SECONDS": "2",
           "LINLI_SERVICE_CONFIG": _service_without_quiet_hours_now(tmp_path), "LINLI_VAR_DIR": str(tmp_path)}
    engine = get_engine(database)
    init_db(engine)
    lease = f"{prefix}:lease"

    def start(name):
        log = open(tmp_path / f"{name}.log", "wb")
        return subprocess.Popen([sys.executable, "-m", "bot.runtime.scheduler"], cwd=PROJECT_ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)

    active = start("first")
    standby = None
    try:
        wait_for(lambda: redis_client.get(lease), timeout=60, message="the first process taking the lease")
        holder = redis_client.get(lease)
        standby = start("second")
        # The standby is up (its lease thread asks at once, then every renewal), and the holder has
        # since renewed the lease past one whole TTL: a standby that could take a held lease had its chance.
        wait_for(lambda: b"started (store: redis)" in (tmp_path / "second.log").read_bytes(), timeout=60,
                 message="the standby starting")
        renewals = _renewals(redis_client, lease, needed=int(env["LINLI_SCHEDULER_LEASE_SECONDS"]) * 2 + 1)
        wait_for(lambda: next(renewals), timeout=30, message="the holder renewing the lease past its TTL")
        assert redis_client.get(lease) == holder, "the standby must not take a held lease"

        # Thirty follow-ups due a little after the kill, written as `linli tickets resolve` would:
        # the handover is what this test is about (a kill in the middle of a send is tested below).
        policy = Policy.load(Path(env["LINLI_SERVICE_CONFIG"]), "Asia/Shanghai")
        store, ids = resolved_tickets(engine, ManualClock(utcnow() - policy.followup_delay + timedelta(seconds=15)), 30)
        writer = Scheduler(settings_for(database, rasa.url, REDIS_URL, key_prefix=prefix), engine=engine,
                           policy=policy).open()
        for ticket_id in ids:
            planning.plan(writer.planning_context(store), store.get(ticket_id))
        writer.stop(release=False)
        active.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        active.wait(10)
        wait_for(lambda: redis_client.get(lease) not in (None, holder), timeout=30, message="takeover")
        takeover = time.monotonic() - killed
        wait_for(lambda: len(rasa.named("EXTERNAL_followup")) >= 30, timeout=30, message="all follow-ups delivered")
        # Nothing left that could send one again: every delivery recorded as sent, no ask job stored.
        wait_for(lambda: _followups_settled(engine, redis_client, prefix, 30), timeout=30,
                 message="every follow-up delivery recorded as sent and its job gone")
        assert sorted(c.entities["ticket_id"] for c in rasa.named("EXTERNAL_followup")) == sorted(ids)
        assert takeover < 30
    finally:
        for process in (active, standby):
            if process and process.poll() is None:
                process.terminate()
                process.wait(10)



# -- SQL is the record: a job store that lost its jobs gets them back -------------------------------

def expected_jobs(open_ids, resolved_id) -> set:
    return ({"system:sweep", "system:digest", f"followup:{resolved_id}:1:ask"}
            | {f"deadline:{ticket_id}:{step}" for ticket_id in open_ids for step in ("remind", "overdue")})


def test_a_job_store_restarted_empty_gets_every_job_back_from_sql(engine, rasa, prefix, redis_client):
    """Redis restarted empty, once while the scheduler runs and once while it is down: every open
    ticket's deadline jobs, the follow-up and the recurring jobs come back, though SQL said
    "planned" for all of them."""
    clock = ManualClock(beijing("2026-11-23 10:00"))
    store = TicketStore(engine=engine, clock=clock)
    open_ids = [store.create(category="leak", description="屋顶漏水", reporter_channel="rest",
                             reporter_id=f"resident-{i}", community="望园", building="2").id for i in range(4)]
    resolved_id = store.transition(store.create(category="leak", description="屋顶漏水", reporter_channel="rest",
                                                reporter_id="resident-r", community="望园", building="2").id,
                                   "resolved", "staff:wang").id
    wanted = expected_jobs(open_ids, resolved_id)

    def wipe() -> None:
        for key in redis_client.scan_iter(f"{prefix}:*"):
            redis_client.delete(key)

    scheduler = start_scheduler(engine, rasa.url, clock, REDIS_URL, key_prefix=prefix)
    try:
        planning.sweep(scheduler.context)
        assert wanted <= {job.id for job in scheduler.jobs()}
        wipe()
        wait_for(lambda: wanted <= {job.id for job in scheduler.jobs()}, timeout=20,
                 message="the jobs rebuilt while the scheduler runs")
    finally:
        scheduler.stop()
    wipe()
    restarted = start_scheduler(engine, rasa.url, clock, REDIS_URL, key_prefix=prefix)
    try:
        assert wanted <= {job.id for job in restarted.jobs()}, "rebuilt when the scheduler starts"
    finally:
        restarted.stop()


def test_a_followup_whose_job_vanished_while_it_ran_is_asked_after_all(sqlite_engine, rasa):
    """APScheduler takes a job out of the store when a worker thread gets it: the process killed
    then leaves SQL saying "scheduled" and no job. The sweep, a sweep after it was due, plans it
    again, and the resident is asked once."""
    clock = ManualClock(beijing("2026-11-23 10:00"))
    store, [ticket_id] = resolved_tickets(sqlite_engine, clock, 1)
    scheduler = start_scheduler(sqlite_engine, rasa.url, clock)
    try:
        followup = planning.plan(scheduler.context, store.get(ticket_id))
        assert scheduler.remove(f"followup:{ticket_id}:1:ask"), "the job the dead process had taken"
        clock.set(followup.due_at + timedelta(seconds=scheduler.settings.sweep_seconds + 1))
        # This sweep or the scheduler's own, due at the same moment, plans it again: either way once.
        planning.sweep(scheduler.context)
        scheduler.wait_idle(30)
        assert [c.entities["ticket_id"] for c in rasa.named("EXTERNAL_followup")] == [ticket_id]
        assert planning.sweep(scheduler.context)["stalled-followups"] == 0, "asked: nothing is stalled"
    finally:
        scheduler.stop()


def test_a_send_left_unfinished_by_a_dead_process_is_retried_not_taken_as_sent(sqlite_engine, rasa):
    """A process killed between claiming a delivery and recording it leaves it "sending": while
    that could still be a live attempt the job tries again later (it does not go on as if the
    resident had been asked); once no request could still be running, the claim is taken over and
    the message sent."""
    from bot.messaging.delivery import Delivery, DeliveryFailed
    from bot.messaging.recipients import Recipient

    clock = ManualClock(beijing("2026-11-23 10:00"))
    dead, alive = (Delivery(rasa.url, None, sqlite_engine, clock, timeout=5) for _ in range(2))
    dead._claim("followup:GD1:1:ask", Recipient("rest", "resident-1"), "EXTERNAL_followup", {})  # then it died
    with pytest.raises(DeliveryFailed):
        alive.send("followup:GD1:1:ask", Recipient("rest", "resident-1"), "EXTERNAL_followup", {"ticket_id": "GD1"})
    assert rasa.named("EXTERNAL_followup") == []
    clock.advance(seconds=11)
    assert alive.send("followup:GD1:1:ask", Recipient("rest", "resident-1"), "EXTERNAL_followup",
                      {"ticket_id": "GD1"}) is not None
    assert alive.send("followup:GD1:1:ask", Recipient("rest", "resident-1"), "EXTERNAL_followup",
                      {"ticket_id": "GD1"}) is None, "sent: once"
    assert [c.conversation_id for c in rasa.named("EXTERNAL_followup")] == ["resident-1"]
    for delivery in (dead, alive):
        delivery.close()
