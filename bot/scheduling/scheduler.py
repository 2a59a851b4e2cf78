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
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional, Union

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import ref_to_obj

from bot.config.policy import Policy, get_policy
from bot.core import redis as redis_settings
from bot.core.clock import Clock, utcnow
from bot.core.errors import RetryLater
from bot.messaging.recipients import Recipients, recipients_for
from bot.scheduling.clock import use_clock
from bot.scheduling.lease import LocalLease, RedisLease
from bot.scheduling.registry import install, restore, store_lost
from bot.scheduling.settings import SchedulerSettings

log = logging.getLogger(__name__)


# -- the scheduler ---------------------------------------------------------------------------------

@dataclass
class Context:
    """What a job works with in this process."""

    schedule: "Scheduler"
    tickets: Any
    delivery: Any
    policy: Policy
    recipients: Recipients
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


_active: Optional[Context] = None
#: What a job runs: a module-level function taking the Context, or its "module:function" name.
Target = Union[str, Callable[..., Any]]


def target_name(target: Target) -> str:
    """Jobs store the name, never the object, so they survive a restart."""
    return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


class Scheduler:
    """This process's handle on the schedule: ``open()`` to write jobs, ``start()`` to also run them
    whenever this process holds the lease."""

    def __init__(self, settings: SchedulerSettings | None = None, clock: Clock | None = None,
                 policy: Policy | None = None, engine=None, lease=None, recipients: Recipients | None = None) -> None:
        self.settings = settings or SchedulerSettings.from_env()
        if clock is not None:
            use_clock(clock)
        self.clock = clock or utcnow
        self.policy = policy or get_policy()
        self.recipients = recipients or recipients_for(self.policy)
        from bot.core.db import get_engine

        self.engine = engine or get_engine(self.settings.database_url)
        self.redis = None
        if self.settings.redis_url:
            self.redis = redis_settings.client(self.settings.redis_url)
        self.lease = lease or (RedisLease(self.redis, f"{self.settings.key_prefix}:lease", self.settings.lease_seconds)
                               if self.redis is not None else LocalLease())
        self._store = self._jobstore()
        self._running = _Counter()  # handed to a worker and not reported done
        self._in_run = _Counter()  # inside ``run`` right now: what stop() must never cut short
        self._aps = _SteadyScheduler(
            jobstores={"default": self._store},
            executors={"default": _CountingExecutor(self.settings.workers, self._running)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": self.settings.misfire_grace_seconds},
            timezone=timezone.utc)
        self._aps.add_listener(lambda _event: self._running.add(-1),
                               EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self._stopping = threading.Event()
        self._shutting_down = False
        self._lease_thread: Optional[threading.Thread] = None
        self.context: Optional[Context] = None

    def _jobstore(self):
        if self.settings.redis_url:
            from apscheduler.jobstores.redis import RedisJobStore

            return RedisJobStore(jobs_key=f"{self.settings.key_prefix}:jobs",
                                 run_times_key=f"{self.settings.key_prefix}:run_times",
                                 **redis_settings.job_store_options(self.settings.redis_url))
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        # APScheduler 3.9 calls the pre-2.0 ``engine.execute``: a legacy engine on the same pool
        # (same connections, same connect-time settings) gives it that.
        from sqlalchemy.engine import Engine

        legacy = Engine(self.engine.pool, self.engine.dialect, self.engine.url)
        return SQLAlchemyJobStore(engine=legacy, tablename="linli_jobs")

    # -- life cycle ---------------------------------------------------------------------------

    def open(self) -> "Scheduler":
        """Connects to the job store to add, list and remove jobs; runs nothing.

        A job that slipped in as the scheduler was pausing, still running while it shuts down,
        cannot reopen it: APScheduler would wait for the job-store lock its shutdown holds while it
        waits for that job. The job fails instead, and the sweep redoes its work at the next start."""
        if self._aps.state == STATE_STOPPED:
            if self._shutting_down:
                raise RuntimeError("the scheduler is shutting down")
            self._aps.start(paused=True)
        return self

    def start(self, context: Optional[Context] = None) -> "Scheduler":
        """Runs due jobs whenever this process holds the lease (checked every ``renew_seconds``)."""
        global _active
        self.open()
        self.context = context or self._default_context()
        _active = self.context
        if not self._restore_if_lost():
            install(self.context)
        self._stopping.clear()
        self._lease_thread = threading.Thread(target=self._keep_lease, name="linli-lease", daemon=True)
        self._lease_thread.start()
        return self

    def _default_context(self) -> Context:
        from bot.messaging.delivery import Delivery
        from bot.tickets.store import TicketStore

        delivery = Delivery(self.settings.rasa_url, self.settings.api_token, self.engine, self.clock,
                            workers=self.settings.workers, collecting=self.settings.collecting_channels)
        return Context(self, TicketStore(engine=self.engine, clock=self.clock), delivery, self.policy, self.recipients,
                       self.clock)

    def planning_context(self, tickets) -> Context:
        """For a process that plans jobs but runs none (the CLI): it never delivers."""
        return Context(self, tickets, None, self.policy, self.recipients, tickets.clock)

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
        while (self._running.value > 0 or self._in_run.value > 0) and systime.monotonic() < deadline:
            systime.sleep(0.05)
        if self._aps.state != STATE_STOPPED:
            self._shutting_down = True
            try:
                self._aps.shutdown(wait=True)
            finally:
                self._shutting_down = False
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
                self._restore_if_lost()
                self._aps.wakeup()  # picks up jobs other processes wrote since the last look
            if self._stopping.wait(self.settings.renew_seconds):
                return

    def _restore_if_lost(self) -> bool:
        """SQL is the record: a job store found without its recurring jobs (Redis restarted empty)
        gets every job back from SQL. True when it did that."""
        try:
            if not store_lost(self.context):
                return False
            log.warning("the job store has lost its jobs; rebuilding them from the database")
            log.warning("rebuilt from the database: %s", restore(self.context))
            return True
        except Exception as error:  # noqa: BLE001 - store or database away: the next look tries again
            log.warning("job store check failed: %s", error)
            return False

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

    def at(self, job_id: str, target: Target, run_at: datetime, *, quiet: bool = True, **kwargs: Any) -> None:
        """One job at a time (replacing a job with the same id): however late it runs, it runs."""
        self._add(job_id, target, DateTrigger(run_at, timezone=timezone.utc), quiet, kwargs,
                  misfire_grace_time=None)

    def every(self, job_id: str, target: Target, trigger: BaseTrigger, *, quiet: bool = True, **kwargs: Any) -> None:
        """A recurring job; runs missed beyond the grace are skipped and missed runs coalesce into one."""
        self._add(job_id, target, trigger, quiet, kwargs)

    def _add(self, job_id, target: Target, trigger, quiet, kwargs, **options) -> None:
        target = target_name(target)
        self.open()._aps.add_job(run, trigger, id=job_id, name=target, replace_existing=True,
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


class _SteadyScheduler(BackgroundScheduler):
    """APScheduler whose loop survives its job store failing under it. After handing a due job to
    a worker, APScheduler 3.9 updates or removes it in the store without catching anything: Redis
    restarting there (connection refused, or the job already gone with the data) ends the loop's
    thread, and from then on this process runs nothing while it looks alive. Here the round ends,
    it is logged, and the next round starts shortly; jobs are idempotent, so one handed over twice
    does no harm. Only a running scheduler processes jobs (see below)."""

    retry_seconds = 1.0

    def _process_jobs(self):
        if self.state != STATE_RUNNING:
            # APScheduler's loop makes one more round after shutdown() has set STOPPED, even for a
            # scheduler that was only open to write jobs (the CLI): it hands due jobs to executors
            # already shut down, and removes them from the shared store, lost for every process.
            return None
        try:
            return super()._process_jobs()
        except Exception as error:  # noqa: BLE001 - see above: the loop must go on
            log.warning("a round of due jobs failed (%s); the next in %.0f s", error, self.retry_seconds)
            return self.retry_seconds


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
    context.schedule._in_run.add(1)
    try:
        _run(context, target, job_id, quiet, attempt, **kwargs)
    finally:
        context.schedule._in_run.add(-1)


def _run(context: Context, target: str, job_id: str, quiet: bool, attempt: int, **kwargs: Any) -> None:
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
