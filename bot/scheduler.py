"""Linli's timed work on APScheduler 3.9: a persistent job store, run by one process at a time.

Jobs live in Redis (``RedisJobStore``) when ``LINLI_REDIS_URL`` is set, otherwise in the tickets'
SQL database (``SQLAlchemyJobStore``), so a restart loses nothing and jobs missed while every process
was down run once when one comes back. Any process may *write* jobs (the CLI, a standby); only the
holder of a lease in Redis *runs* them, and a standby takes over when the holder stops renewing it.
A job may still run twice in a race (a holder that lost its lease mid-job), so every job checks the
state it acts on and every message goes through ``bot.delivery``, which sends each key once.

Every job calls :func:`run` with a ``target`` ("module:function") that receives the process's
:class:`Context`; jobs hold only names and ids, never objects, so they survive a restart.
"""
from __future__ import annotations

import logging
import threading
import time as systime
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import yaml
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import ref_to_obj

from bot.settings import _env, get_settings

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- settings and policy ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SchedulerSettings:
    """How the scheduler process runs (``LINLI_SCHEDULER_*``); what it does is in :class:`Policy`."""

    database_url: str
    redis_url: Optional[str]
    rasa_url: str
    api_token: Optional[str]
    timezone: str
    lease_seconds: float = 20.0       # a standby takes over at most lease + renew seconds after a crash
    misfire_grace_seconds: int = 3600  # recurring jobs later than this are skipped, not run stale
    workers: int = 8                   # jobs (deliveries) run in parallel
    sweep_seconds: float = 60.0        # how often the state of tickets and subscriptions is turned into jobs
    key_prefix: str = "linli"          # Redis keys: <prefix>:jobs, <prefix>:run_times, <prefix>:lease
    max_attempts: int = 5              # deliveries tried before they are left as failed

    @property
    def renew_seconds(self) -> float:
        return max(min(self.lease_seconds / 4, 5.0), 0.05)

    @classmethod
    def from_env(cls) -> "SchedulerSettings":
        base = get_settings()

        def number(name: str, default: float) -> float:
            return float(_env(f"SCHEDULER_{name}", str(default)))

        return cls(database_url=base.database_url, redis_url=base.redis_url,
                   rasa_url=_env("RASA_URL", f"http://127.0.0.1:{base.rasa_port}"), api_token=base.api_token,
                   timezone=base.timezone, lease_seconds=number("LEASE_SECONDS", 20),
                   misfire_grace_seconds=int(number("MISFIRE_GRACE", 3600)), workers=int(number("WORKERS", 8)),
                   sweep_seconds=number("SWEEP_SECONDS", 60), key_prefix=_env("SCHEDULER_KEY_PREFIX", "linli"),
                   max_attempts=int(number("MAX_ATTEMPTS", 5)))


@dataclass(frozen=True)
class Recipient:
    """Who a proactive message goes to: a Rasa output channel name and a conversation id."""

    channel: str
    conversation_id: str


class PolicyError(ValueError):
    """service.yml or the staff file asks for something that makes no sense; raised at load, not at 3 a.m."""


@dataclass(frozen=True)
class StaffRecipients:
    """Who gets staff notices, by the rules in the staff file's comments."""

    street: tuple[Recipient, ...]
    communities: dict
    handlers: dict
    digest: tuple[Recipient, ...]

    @classmethod
    def of(cls, members) -> "StaffRecipients":
        told = [m for m in members if m.notices]

        def reached(members_) -> tuple[Recipient, ...]:
            return tuple(Recipient(m.channel, m.id) for m in members_)

        names = dict.fromkeys(name for m in told for name in m.communities)
        handlers = dict.fromkeys(name for m in told for name in m.handlers)
        return cls(street=reached(m for m in told if not m.communities and not m.handlers),
                   communities={n: reached(m for m in told if n in m.communities and not m.handlers) for n in names},
                   handlers={n: reached(m for m in told if n in m.handlers) for n in handlers},
                   digest=reached(m for m in told if m.digest))


class StaffFile:
    """The staff file, read again whenever it changes: `linli staff add` reaches a running
    scheduler at its next notice. A file broken by a hand edit keeps the last good roster (and
    says so in the log) rather than silence every notice."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: Optional[tuple[int, int]] = None
        self._current = self._read()
        self._stamp = self._stat()

    def _stat(self) -> Optional[tuple[int, int]]:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _read(self) -> StaffRecipients:
        from bot.people import StaffFileError, load_staff

        try:
            return StaffRecipients.of(load_staff(self.path))
        except (OSError, StaffFileError, yaml.YAMLError) as error:
            raise PolicyError(f"staff file {self.path}: {error}") from error

    def current(self) -> StaffRecipients:
        stamp = self._stat()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    try:
                        self._current = self._read()
                    except PolicyError as error:
                        log.error("%s; keeping the staff read before", error)
                    self._stamp = stamp
        return self._current


@dataclass(frozen=True)
class Policy:
    """The street's decisions about timing and who is told what (service.yml; see its comments)."""

    zone: ZoneInfo
    quiet_start: time
    quiet_end: time
    followup_delay: timedelta
    followup_reminder_after: timedelta
    followup_no_answer_after: timedelta
    street_after_failed: int
    remind_at: float
    response_hours: dict
    digest_time: time
    nudge_max_per_day: int
    nudge_pause_days: int
    staff: StaffFile = field(hash=False, compare=False)
    progress_actions: tuple = ()
    progress_lookback: timedelta = timedelta(hours=24)

    @classmethod
    def load(cls, path: Path, zone: str, staff_path: Path | None = None) -> "Policy":
        """``staff_path``: the staff file (default ``LINLI_STAFF_FILE``), which says who is told."""
        from bot.people import staff_file

        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        followup = {**raw.get("followup", {}), **_followup_overrides()}
        quiet = [time.fromisoformat(t) for t in raw.get("quiet_hours", ("22:00", "08:00"))]
        remind_at = float(raw.get("deadline_watch", {}).get("remind_at", 0.75))
        if not 0 < remind_at < 1:
            raise PolicyError(f"{path}: deadline_watch.remind_at must be between 0 and 1")
        progress = raw.get("progress_notices", {})
        hours = {name: timedelta(hours=float(followup[name + "_hours"]))
                 for name in ("delay", "reminder_after", "no_answer_after")}
        return cls(zone=ZoneInfo(zone), quiet_start=quiet[0], quiet_end=quiet[1],
                   followup_delay=hours["delay"], followup_reminder_after=hours["reminder_after"],
                   followup_no_answer_after=hours["no_answer_after"],
                   street_after_failed=int(followup.get("street_after_failed", 2)), remind_at=remind_at,
                   response_hours={k: float(v) for k, v in raw["response_hours"].items()},
                   digest_time=time.fromisoformat(str(raw.get("digest", {}).get("time", "08:30"))),
                   nudge_max_per_day=int(raw.get("nudges", {}).get("max_times_per_day", 3)),
                   nudge_pause_days=int(raw.get("nudges", {}).get("pause_days", 7)),
                   staff=StaffFile(staff_path or staff_file()),
                   progress_actions=tuple(progress.get("actions", ())),
                   progress_lookback=timedelta(hours=float(progress.get("lookback_hours", 24))))

    # -- staff recipients (from the staff file, as it is now) -----------------------------------

    @property
    def street(self) -> tuple[Recipient, ...]:
        return self.staff.current().street

    @property
    def communities(self) -> dict:
        return self.staff.current().communities

    @property
    def handlers(self) -> dict:
        return self.staff.current().handlers

    @property
    def digest(self) -> tuple[Recipient, ...]:
        return self.staff.current().digest

    # -- quiet hours --------------------------------------------------------------------------

    def is_quiet(self, moment: datetime) -> bool:
        return self.is_quiet_time(moment.astimezone(self.zone).time())

    def is_quiet_time(self, local: time) -> bool:
        """Whether a local time of day (e.g. one a rider chose for nudges) is in the quiet hours."""
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end

    def outside_quiet(self, moment: datetime) -> datetime:
        """The moment itself, or the end of the quiet hours it falls in."""
        if not self.is_quiet(moment):
            return moment
        local = moment.astimezone(self.zone)
        end = datetime.combine(local.date(), self.quiet_end, self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.quiet_end, self.zone)
        return end.astimezone(timezone.utc)

    # -- who is told -------------------------------------------------------------------------

    def community_staff(self, community: Optional[str]) -> tuple[Recipient, ...]:
        return self.communities.get(community or "") or self.street

    def handler_staff(self, ticket) -> tuple[Recipient, ...]:
        """The handler's own duty account, else whoever coordinates it (community, or street)."""
        if ticket.handler_name in self.handlers:
            return self.handlers[ticket.handler_name]
        if ticket.handler_kind == "department":
            return self.street
        return self.community_staff(ticket.community)

    def supervision_level(self, ticket) -> str:
        """督办: the community supervises property companies and owner units, the street supervises
        communities and departments."""
        return "community" if ticket.handler_kind in ("property_company", "owner_unit") else "street"

    def supervisors(self, ticket, failed_followups: int = 1) -> tuple[Recipient, ...]:
        """The handler's supervisors; from the ``street_after_failed``-th failed follow-up on, the
        street as well."""
        own = self.community_staff(ticket.community) if self.supervision_level(ticket) == "community" else self.street
        if failed_followups >= self.street_after_failed:
            return tuple(dict.fromkeys(own + self.street))
        return own


def _followup_overrides() -> dict:
    """``LINLI_FOLLOWUP_DELAY_HOURS`` and friends override service.yml (tests, pilots)."""
    names = ("delay_hours", "reminder_after_hours", "no_answer_after_hours")
    return {name: _env(f"FOLLOWUP_{name.upper()}") for name in names if _env(f"FOLLOWUP_{name.upper()}")}


@lru_cache(maxsize=4)
def _policy(path: str, zone: str, overrides: tuple, staff_path: str) -> Policy:
    return Policy.load(Path(path), zone, Path(staff_path))


def get_policy() -> Policy:
    from bot.people import staff_file

    settings = get_settings()
    return _policy(str(settings.service_path), settings.timezone, tuple(sorted(_followup_overrides().items())),
                   str(staff_file()))


# -- time ------------------------------------------------------------------------------------------

class ManualClock:
    """A clock that moves only when told to: tests and the benchmark jump hours without sleeping."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


_clock: Clock = utcnow


class _ClockedDatetime(datetime):
    """APScheduler 3 reads the wall clock through ``datetime.now`` in its loop, when adding a job, in
    the misfire check and for an interval trigger's default start; this class answers with Linli's
    clock there (an interval started on the wall clock would never fire on a clock set in the past)."""

    @classmethod
    def now(cls, tz=None):
        now = _clock()
        return now.astimezone(tz) if tz else now.replace(tzinfo=None)


def use_clock(clock: Clock) -> None:
    """Makes APScheduler in this process run on ``clock`` (one clock per process)."""
    global _clock
    import apscheduler.executors.base
    import apscheduler.executors.base_py3
    import apscheduler.schedulers.base
    import apscheduler.triggers.interval

    _clock = clock
    for module in (apscheduler.schedulers.base, apscheduler.executors.base, apscheduler.executors.base_py3,
                   apscheduler.triggers.interval):
        module.datetime = _ClockedDatetime


# -- the lease -------------------------------------------------------------------------------------

class RedisLease:
    """Held by one process at a time: taken with SET NX PX, kept by extending it only while the value
    is still this process's own, so a process that paused past the TTL cannot extend a lease a
    standby has meanwhile taken."""

    _EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, client, key: str, ttl_seconds: float, owner: str | None = None) -> None:
        self.client, self.key = client, key
        self.ttl_ms = int(ttl_seconds * 1000)
        self.owner = owner or uuid.uuid4().hex

    def hold(self) -> bool:
        if self.client.eval(self._EXTEND, 1, self.key, self.owner, self.ttl_ms):
            return True
        return bool(self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms))

    def holder(self) -> Optional[str]:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    def release(self) -> None:
        self.client.eval(self._RELEASE, 1, self.key, self.owner)


class LocalLease:
    """Without Redis there is one Linli process (SQLite): it always holds the lease."""

    owner = "local"

    def hold(self) -> bool:
        return True

    def holder(self) -> Optional[str]:
        return self.owner

    def release(self) -> None:
        pass


def _redis_args(url: str) -> dict:
    parsed = urlparse(url)
    return {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 6379,
            "db": int((parsed.path or "/0").strip("/") or 0), "password": parsed.password}


# -- the scheduler ---------------------------------------------------------------------------------

@dataclass
class Context:
    """What a job works with in this process."""

    schedule: "Scheduler"
    tickets: Any
    delivery: Any
    policy: Policy
    clock: Clock

    @property
    def engine(self):
        return self.tickets.engine


@dataclass(frozen=True)
class JobView:
    id: str
    target: str
    next_run: Optional[datetime]
    kwargs: dict


class RetryLater(Exception):
    """A job could not finish for a reason expected to pass (a delivery failed); :func:`run` tries
    it again later, as it does after any error, but logs it without a traceback."""


_active: Optional[Context] = None


class Scheduler:
    """This process's handle on the schedule: ``open()`` to write jobs, ``start()`` to also run them
    whenever this process holds the lease."""

    def __init__(self, settings: SchedulerSettings | None = None, clock: Clock | None = None,
                 policy: Policy | None = None, engine=None, lease=None) -> None:
        self.settings = settings or SchedulerSettings.from_env()
        if clock is not None:
            use_clock(clock)
        self.clock = clock or utcnow
        self.policy = policy or get_policy()
        from bot.db import get_engine

        self.engine = engine or get_engine(self.settings.database_url)
        self.redis = None
        if self.settings.redis_url:
            import redis

            self.redis = redis.Redis(**_redis_args(self.settings.redis_url))
        self.lease = lease or (RedisLease(self.redis, f"{self.settings.key_prefix}:lease", self.settings.lease_seconds)
                               if self.redis is not None else LocalLease())
        self._store = self._jobstore()
        self._running = _Counter()
        self._aps = BackgroundScheduler(
            jobstores={"default": self._store},
            executors={"default": _CountingExecutor(self.settings.workers, self._running)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": self.settings.misfire_grace_seconds},
            timezone=timezone.utc)
        self._aps.add_listener(lambda _event: self._running.add(-1),
                               EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self._stopping = threading.Event()
        self._lease_thread: Optional[threading.Thread] = None
        self.context: Optional[Context] = None

    def _jobstore(self):
        if self.settings.redis_url:
            from apscheduler.jobstores.redis import RedisJobStore

            return RedisJobStore(jobs_key=f"{self.settings.key_prefix}:jobs",
                                 run_times_key=f"{self.settings.key_prefix}:run_times",
                                 **_redis_args(self.settings.redis_url))
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        # APScheduler 3.9 calls the pre-2.0 ``engine.execute``: a legacy engine on the same pool
        # (same connections, same connect-time settings) gives it that.
        from sqlalchemy.engine import Engine

        legacy = Engine(self.engine.pool, self.engine.dialect, self.engine.url)
        return SQLAlchemyJobStore(engine=legacy, tablename="linli_jobs")

    # -- life cycle ---------------------------------------------------------------------------

    def open(self) -> "Scheduler":
        """Connects to the job store to add, list and remove jobs; runs nothing."""
        if self._aps.state == STATE_STOPPED:
            self._aps.start(paused=True)
        return self

    def start(self, context: Optional[Context] = None) -> "Scheduler":
        """Runs due jobs whenever this process holds the lease (checked every ``renew_seconds``)."""
        global _active
        self.open()
        self.context = context or self._default_context()
        _active = self.context
        from bot.followups import install

        install(self.context)
        self._stopping.clear()
        self._lease_thread = threading.Thread(target=self._keep_lease, name="linli-lease", daemon=True)
        self._lease_thread.start()
        return self

    def _default_context(self) -> Context:
        from bot.delivery import Delivery
        from bot.tickets import TicketStore

        delivery = Delivery(self.settings.rasa_url, self.settings.api_token, self.engine, self.clock,
                            workers=self.settings.workers)
        return Context(self, TicketStore(engine=self.engine, clock=self.clock), delivery, self.policy, self.clock)

    def planning_context(self, tickets) -> Context:
        """For a process that plans jobs but runs none (the CLI): it never delivers."""
        return Context(self, tickets, None, self.policy, tickets.clock)

    def stop(self, release: bool = True, timeout: float = 60.0) -> None:
        """Stops running jobs; with ``release`` the lease is handed over at once instead of expiring.

        Jobs under way finish first, with the scheduler paused but open: they may still add jobs
        (a retry, the morning after quiet hours, the sweep's plans). APScheduler's own shutdown
        holds the job-store lock while it waits for them, so a job adding one then would wait for
        ever. A job still running after ``timeout`` is left to the shutdown's wait."""
        self._stopping.set()
        if self._lease_thread:
            self._lease_thread.join(10)
        if self._aps.state == STATE_RUNNING:
            self._aps.pause()
        deadline = systime.monotonic() + timeout
        while self._running.value and systime.monotonic() < deadline:
            systime.sleep(0.05)
        if self._aps.state != STATE_STOPPED:
            self._aps.shutdown(wait=True)
        if release:
            self.lease.release()

    @property
    def active(self) -> bool:
        return self._aps.state == STATE_RUNNING

    def _keep_lease(self) -> None:
        while True:
            try:
                held = self.lease.hold()
            except Exception as error:  # noqa: BLE001 - Redis away: stop running rather than run twice
                log.warning("lease check failed: %s", error)
                held = False
            if held and self._aps.state == STATE_PAUSED:
                log.info("scheduler %s is now active", self.lease.owner)
                self._aps.resume()
            elif not held and self._aps.state == STATE_RUNNING:
                log.warning("scheduler %s lost the lease; standing by", self.lease.owner)
                self._aps.pause()
            if held:
                self._aps.wakeup()  # picks up jobs other processes wrote since the last look
            if self._stopping.wait(self.settings.renew_seconds):
                return

    def wakeup(self) -> None:
        self._aps.wakeup()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Blocks until nothing is due and nothing is running (tests and the benchmark, after moving
        the clock)."""
        deadline = systime.monotonic() + timeout
        while systime.monotonic() < deadline:
            self._aps.wakeup()
            next_run = self.next_run_time()
            if self._running.value == 0 and (next_run is None or next_run > self.clock()):
                return
            systime.sleep(0.02)
        raise TimeoutError(f"jobs still due or running after {timeout} s")

    # -- jobs -------------------------------------------------------------------------------

    def at(self, job_id: str, target: str, run_at: datetime, *, quiet: bool = True, **kwargs: Any) -> None:
        """One job at a time (replacing a job with the same id): however late it runs, it runs."""
        self._add(job_id, target, DateTrigger(run_at, timezone=timezone.utc), quiet, kwargs,
                  misfire_grace_time=None)

    def every(self, job_id: str, target: str, trigger: BaseTrigger, *, quiet: bool = True, **kwargs: Any) -> None:
        """A recurring job; runs missed beyond the grace are skipped and missed runs coalesce into one."""
        self._add(job_id, target, trigger, quiet, kwargs)

    def _add(self, job_id, target, trigger, quiet, kwargs, **options) -> None:
        self.open()._aps.add_job("bot.scheduler:run", trigger, id=job_id, name=target, replace_existing=True,
                          kwargs={"target": target, "job_id": job_id, "quiet": quiet, **kwargs}, **options)

    def remove(self, job_id: str) -> bool:
        try:
            self.open()._aps.remove_job(job_id)
            return True
        except JobLookupError:
            return False

    def get(self, job_id: str) -> Optional[JobView]:
        job = self.open()._aps.get_job(job_id)
        return _view(job) if job else None

    def jobs(self) -> list[JobView]:
        return [_view(job) for job in self.open()._aps.get_jobs()]

    def next_run_time(self) -> Optional[datetime]:
        """From the store's own index: cheap even with 100,000 jobs (``jobs()`` loads them all)."""
        return self._store.get_next_run_time()


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, amount: int) -> None:
        with self._lock:
            self.value += amount


class _CountingExecutor(ThreadPoolExecutor):
    """Counts a job as running from the moment it is handed over (APScheduler reports submissions
    only after a whole round of due jobs, when some may have finished already)."""

    def __init__(self, workers: int, running: _Counter) -> None:
        super().__init__(workers)
        self.running = running

    def submit_job(self, job, run_times) -> None:
        self.running.add(1)
        try:
            super().submit_job(job, run_times)
        except BaseException:
            self.running.add(-1)
            raise


def _view(job) -> JobView:
    kwargs = dict(job.kwargs)
    return JobView(job.id, kwargs.pop("target", job.name), job.next_run_time, kwargs)


def run(target: str, job_id: str, quiet: bool = True, attempt: int = 1, **kwargs: Any) -> None:
    """What every job calls: defers quiet-hour work to the morning and retries failed deliveries
    with growing pauses."""
    context = _active
    if context is None:
        raise RuntimeError("no scheduler is running in this process")
    now = context.clock()
    if quiet and context.policy.is_quiet(now):
        context.schedule.at(_suffixed(job_id, "after-quiet"), target, context.policy.outside_quiet(now), quiet=quiet,
                            attempt=attempt, **kwargs)
        return
    try:
        ref_to_obj(target)(context, **kwargs)
    except Exception as error:  # noqa: BLE001 - a one-off job that raised would be gone for good
        if attempt >= context.schedule.settings.max_attempts:
            log.error("job %s gave up after %d attempts: %s", job_id, attempt, error)
            return
        pause = timedelta(seconds=min(30 * 4 ** (attempt - 1), 3600))
        log.warning("job %s failed (%s); attempt %d in %s", job_id, error, attempt + 1, pause,
                    exc_info=not isinstance(error, RetryLater))
        context.schedule.at(_suffixed(job_id, "retry"), target, now + pause, quiet=quiet, attempt=attempt + 1, **kwargs)


def _suffixed(job_id: str, suffix: str) -> str:
    return job_id if job_id.endswith(f":{suffix}") else f"{job_id}:{suffix}"


def main() -> None:
    """``python -m bot.scheduler``: the scheduler process that ``linli run`` starts."""
    import signal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from bot.db import init_db

    scheduler = Scheduler()
    init_db(scheduler.engine)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler.start()
    log.info("scheduler %s started (store: %s)", scheduler.lease.owner,
             "redis" if scheduler.settings.redis_url else "sql")
    stop.wait()
    scheduler.stop()


if __name__ == "__main__":
    # Run as ``bot.scheduler``, not ``__main__``: jobs call ``bot.scheduler:run``, which must see
    # the scheduler this process started.
    from bot.scheduler import main as _main

    _main()
