"""Shared by the scheduler and follow-up tests: a stand-in for Rasa's trigger_intent API, a manual
clock, and a scheduler wired to both."""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from bot.config.policy import get_policy
from bot.core.clock import ManualClock
from bot.runtime import scheduler as _registers_workflows  # noqa: F401 - the workflows' recurring jobs
from bot.scheduling.scheduler import Scheduler
from bot.scheduling.settings import SchedulerSettings

BEIJING = ZoneInfo("Asia/Shanghai")
REDIS_URL = "redis://127.0.0.1:6379/12"


def beijing(text: str) -> datetime:
    """"2026-11-23 10:00" in Beijing, as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING).astimezone(timezone.utc)


@dataclass
class Triggered:
    conversation_id: str
    output_channel: str
    name: str
    entities: dict


@dataclass
class FakeRasa:
    """Records ``POST /conversations/<id>/trigger_intent`` and answers like Rasa's collector; the
    first ``fail`` requests get a 500. Like Rasa's route, it takes the id as written in the path
    (no percent-decoding)."""

    fail: int = 0
    calls: list = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeRasa":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                match = re.match(r"^/conversations/(.+)/trigger_intent$", url.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    failing = fake.fail > 0
                    fake.fail -= failing
                    if not failing:
                        fake.calls.append(Triggered(match.group(1), parse_qs(url.query)["output_channel"][0],
                                                    body["name"], body.get("entities", {})))
                payload = json.dumps({"tracker": {}, "messages": [{"text": body["name"]}]}).encode()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def named(self, name: str) -> list[Triggered]:
        return [c for c in self.calls if c.name == name]


def settings_for(database_url: str, rasa_url: str, redis_url: str | None = None, **overrides) -> SchedulerSettings:
    values = {"database_url": database_url, "redis_url": redis_url, "rasa_url": rasa_url, "api_token": None,
              "timezone": "Asia/Shanghai", "lease_seconds": 1.0, "sweep_seconds": 60.0,
              "key_prefix": f"linli-test-{uuid.uuid4().hex[:8]}", "workers": 4,
              # FakeRasa, and a REST-only test stack, answer every channel with the collected
              # messages: a test that checks "not configured" passes collecting_channels=("rest",)
              "collecting_channels": ("rest", "wecom", "linli_telegram", "wechat"), **overrides}
    return SchedulerSettings(**values)


def start_scheduler(engine, rasa_url: str, clock: ManualClock, redis_url: str | None = None,
                    **overrides) -> Scheduler:
    settings = settings_for(str(engine.url), rasa_url, redis_url, **overrides)
    return Scheduler(settings, clock=clock, policy=get_policy(), engine=engine).start()


def wait_for(condition, timeout: float = 20.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{message} not met within {timeout} s")

