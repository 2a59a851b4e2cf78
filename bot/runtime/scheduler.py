"""The scheduler process that ``linli run`` starts (``python -m bot.runtime.scheduler``): every
workflow's jobs, run whenever this process holds the lease.

Importing the workflows registers their recurring jobs and sweep steps (bot.scheduling.registry);
the scheduler itself knows none of them.
"""
from __future__ import annotations

import logging
import signal
import threading

from bot.broadcasts import jobs  # noqa: F401 - registers how broadcasts' jobs are rebuilt
from bot.core.db import init_db
from bot.privacy import logs as privacy_logs
from bot.proactive import jobs as proactive_jobs  # noqa: F401 - the daily look ahead before a season
from bot.scheduling.scheduler import Scheduler
from bot.workflows import (  # noqa: F401
    callbacks,
    deadline_watch,
    digest,
    dispatch_notices,
    followups,
    nudge_jobs,
    planning,
    progress,
    supervision,
    volunteer_status,
)

log = logging.getLogger(__name__)


def main() -> None:
    privacy_logs.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
    main()
