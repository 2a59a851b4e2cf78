"""Sending a broadcast to everyone in its audience within each platform's limits, resumable by any process."""
from __future__ import annotations

import logging
import threading
import time as systime
import uuid
from dataclasses import dataclass
from datetime import datetime
from queue import Empty, SimpleQueue
from typing import Callable, Optional

import httpx
from sqlalchemy import and_, exists, insert, select, update

from bot.broadcasts.audience import Reach, resolve
from bot.broadcasts.compose import Audience
from bot.broadcasts.lifecycle import DELIVER_INTENT, BroadcastView, counts, existing
from bot.broadcasts.models import SUBSCRIBERS, Broadcast, BroadcastRecipient
from bot.config.broadcasts import BroadcastConfig, get_config
from bot.core.db import session_scope
from bot.messaging.delivery import trigger_intent
from bot.messaging.recipients import Recipient
from bot.people.models import Person

log = logging.getLogger(__name__)


# -- sending ---------------------------------------------------------------------------------------

class Progress:
    """What a runner reports as it goes (the command line draws a bar; jobs log)."""

    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, outcome: str) -> None:
        pass


@dataclass
class RunResult:
    view: BroadcastView
    ran: bool  # this call sent (or tried to send) anything
    paused: bool = False  # stopped before the end (Rasa unreachable, or asked to); a watch job resumes it


def run(engine, broadcast_id: int, rasa_url: str, token: Optional[str], clock: Callable[[], datetime],
        reach: Optional[Reach] = None, progress: Optional[Progress] = None, stop: Optional[threading.Event] = None,
        config: Optional[BroadcastConfig] = None) -> RunResult:
    """Sends a due broadcast to everyone not yet sent to, unless another live runner has it.
    Setting ``stop`` pauses it after the sends in flight (a watch job resumes it later)."""
    config = config or get_config()
    runner = uuid.uuid4().hex[:12]
    if not _take(engine, broadcast_id, runner, clock(), reach or Reach.from_credentials(config=config), config):
        return RunResult(existing(engine, broadcast_id), ran=False)
    view = existing(engine, broadcast_id)
    fanout = _FanOut(engine, view, runner, rasa_url, token, clock, config, progress or Progress(),
                     stop or threading.Event())
    fanout.run()
    finished = _finish(engine, view.id, runner, clock())
    return RunResult(existing(engine, broadcast_id), ran=True, paused=not finished)


def _take(engine, broadcast_id: int, runner: str, now: datetime, reach: Reach, config: BroadcastConfig) -> bool:
    """Claims the broadcast for this runner: a due scheduled one (resolving its audience into the
    report's rows in the same transaction), or one whose runner stopped beating."""
    with session_scope(engine) as session:
        started = session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == "scheduled",
            (Broadcast.send_at.is_(None)) | (Broadcast.send_at <= now))
            .values(status="sending", runner=runner, heartbeat_at=now, started_at=now)).rowcount
        if started:
            row = session.get(Broadcast, broadcast_id)
            audience = Audience(row.audience, row.community, row.building, row.topic)
            rows = [{"broadcast_id": broadcast_id, "channel": c.channel, "sender_id": c.sender_id,
                     "status": "skipped" if c.skip else "pending", "reason": c.skip, "attempts": 0,
                     "finished_at": now if c.skip else None} for c in resolve(session, audience, reach)]
            if rows:
                session.execute(insert(BroadcastRecipient), rows)
            return True
    with session_scope(engine) as session:
        taken = session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == "sending",
            Broadcast.heartbeat_at < now - config.stale_after)
            .values(runner=runner, heartbeat_at=now)).rowcount
        if taken:
            session.execute(update(BroadcastRecipient).where(
                BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == "sending")
                .values(status="failed", reason="interrupted", finished_at=now,
                        detail="the runner stopped while this was in flight; not sent again"))
            log.warning("broadcast %s: took over from a runner that stopped", broadcast_id)
        return bool(taken)


def _finish(engine, broadcast_id: int, runner: str, now: datetime) -> bool:
    """``done`` once no row is left to send; a cancelled broadcast stays cancelled."""
    with session_scope(engine) as session:
        left = exists().where(BroadcastRecipient.broadcast_id == broadcast_id,
                              BroadcastRecipient.status.in_(("pending", "sending")))
        return bool(session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == "sending", Broadcast.runner == runner, ~left)
            .values(status="done", finished_at=now), execution_options={"synchronize_session": False}).rowcount)


class _FanOut:
    """Bounded concurrency per channel: each channel's pending rows are worked off by that channel's
    own threads, so a slow channel (a robot waiting out its minute) never holds up the others."""

    def __init__(self, engine, view: BroadcastView, runner: str, rasa_url: str, token: Optional[str],
                 clock: Callable[[], datetime], config: BroadcastConfig, progress: Progress,
                 stop: threading.Event) -> None:
        self.engine, self.view, self.runner, self.clock, self.config = engine, view, runner, clock, config
        self.progress = progress
        self.url, self.token = rasa_url.rstrip("/"), token
        self.stop = stop
        self._failures_in_a_row = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        workers = sum(info.concurrency for info in config.channels.values())
        self.http = httpx.Client(timeout=httpx.Timeout(config.request_timeout, connect=5.0),
                                 limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers))

    def run(self) -> None:
        pending = self._pending()
        counts = _counts_by_status(self.engine, self.view.id)
        self.progress.start(sum(counts.values()), sum(n for s, n in counts.items() if s not in ("pending",)))
        threads = [threading.Thread(target=self._heartbeat, name="broadcast-heartbeat", daemon=True)]
        for channel, people in pending.items():
            queue: SimpleQueue = SimpleQueue()
            for sender_id in people:
                queue.put(sender_id)
            workers = min(self.config.channels[channel].concurrency, len(people))  # only reachable channels are pending
            threads += [threading.Thread(target=self._work, args=(channel, queue), daemon=True,
                                         name=f"broadcast-{channel}-{n}") for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads[1:]:
            thread.join()
        self._done.set()
        threads[0].join()
        self.http.close()

    def _pending(self) -> dict[str, list[str]]:
        with session_scope(self.engine) as session:
            rows = session.execute(select(BroadcastRecipient.channel, BroadcastRecipient.sender_id).where(
                BroadcastRecipient.broadcast_id == self.view.id, BroadcastRecipient.status == "pending"))
            pending: dict[str, list[str]] = {}
            for channel, sender_id in rows:
                pending.setdefault(channel, []).append(sender_id)
            return pending

    def _heartbeat(self) -> None:
        while not self._done.wait(self.config.heartbeat_seconds):
            with session_scope(self.engine) as session:
                mine = session.execute(update(Broadcast).where(
                    Broadcast.id == self.view.id, Broadcast.runner == self.runner, Broadcast.status == "sending")
                    .values(heartbeat_at=self.clock())).rowcount
            if not mine:  # cancelled, or taken over after a stall: stop at the next claim
                self.stop.set()

    def _work(self, channel: str, queue: SimpleQueue) -> None:
        while not self.stop.is_set():
            try:
                sender_id = queue.get_nowait()
            except Empty:
                return
            self._one(channel, sender_id, queue)

    def _one(self, channel: str, sender_id: str, queue: SimpleQueue) -> None:
        claim = _claim(self.engine, self.view, channel, sender_id, self.clock())
        if claim == "stop":
            self.stop.set()
            return
        if claim != "claimed":
            self.progress.advance(claim)
            return
        outcome, reason, detail = self._send(channel, sender_id)
        if outcome == "retry":
            _release(self.engine, self.view.id, channel, sender_id)
            queue.put(sender_id)
            self._connection_failed(detail)
            return
        self._connection_ok()
        _record(self.engine, self.view.id, channel, sender_id, outcome, reason, detail, self.clock())
        self.progress.advance(outcome)

    def _send(self, channel: str, sender_id: str) -> tuple[str, Optional[str], Optional[str]]:
        entities = {"broadcast_id": str(self.view.id)}
        if self.view.image_for(channel, self.config):
            entities["broadcast_image"] = "yes"
        try:
            response = trigger_intent(self.http, self.url, self.token, Recipient(channel, sender_id), DELIVER_INTENT,
                                      entities)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:  # never reached Rasa: safe to try again
            return "retry", None, f"{type(error).__name__}: {error}"
        except httpx.TimeoutException as error:  # Rasa may have sent it: not again
            return "failed", "timeout", f"{type(error).__name__}: {error}"
        except httpx.HTTPError as error:
            return "failed", "error", f"{type(error).__name__}: {error}"[:1000]
        if response.status_code == 200:
            return "sent", None, None
        detail = response.text[:1000]
        return "failed", self.config.failure_reason(detail), detail

    def _connection_failed(self, detail: Optional[str]) -> None:
        with self._lock:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self.config.connect_retries:
                log.warning("broadcast %s: Rasa unreachable (%s); pausing", self.view.id, detail)
                self.stop.set()
        systime.sleep(min(2 ** self._failures_in_a_row * 0.1, 5))

    def _connection_ok(self) -> None:
        with self._lock:
            self._failures_in_a_row = 0


def _counts_by_status(engine, broadcast_id: int) -> dict:
    with session_scope(engine) as session:
        return counts(session, broadcast_id)


def _claim(engine, view: BroadcastView, channel: str, sender_id: str, now: datetime) -> str:
    """``claimed``; ``stop`` when the broadcast is no longer sending (cancelled); ``skipped`` when
    a subscriber unsubscribed meanwhile; ``taken`` when another runner has the row."""
    row = and_(BroadcastRecipient.broadcast_id == view.id, BroadcastRecipient.channel == channel,
               BroadcastRecipient.sender_id == sender_id)
    sending = exists().where(Broadcast.id == view.id, Broadcast.status == "sending")
    conditions = [row, BroadcastRecipient.status == "pending", sending]
    if view.audience.kind == SUBSCRIBERS:
        conditions.append(exists().where(Person.channel == channel, Person.sender_id == sender_id,
                                         Person.subscribed.is_(True)))
    with session_scope(engine) as session:
        claimed = session.execute(update(BroadcastRecipient).where(*conditions).values(
            status="sending", attempts=BroadcastRecipient.attempts + 1, claimed_at=now),
            execution_options={"synchronize_session": False}).rowcount
        if claimed:
            return "claimed"
        if not session.execute(select(sending)).scalar():
            return "stop"
        unsubscribed = session.execute(update(BroadcastRecipient).where(row, BroadcastRecipient.status == "pending")
                                       .values(status="skipped", reason="unsubscribed", finished_at=now,
                                               detail="unsubscribed after the broadcast started")).rowcount
        return "skipped" if unsubscribed else "taken"


def _release(engine, broadcast_id: int, channel: str, sender_id: str) -> None:
    with session_scope(engine) as session:
        session.execute(update(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.channel == channel,
            BroadcastRecipient.sender_id == sender_id, BroadcastRecipient.status == "sending")
            .values(status="pending"))


def _record(engine, broadcast_id: int, channel: str, sender_id: str, outcome: str, reason: Optional[str],
            detail: Optional[str], now: datetime) -> None:
    with session_scope(engine) as session:
        session.execute(update(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.channel == channel,
            BroadcastRecipient.sender_id == sender_id, BroadcastRecipient.status == "sending")
            .values(status=outcome, reason=reason, detail=detail, finished_at=now))
