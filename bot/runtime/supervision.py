"""Keeping ``linli run``'s processes alive: each child that dies is started again, with a pause that
doubles while it keeps dying (bot/data/runtime.yml), and ``GET /health`` on 127.0.0.1 says which
child is down (503) or that all run (200).

A child dies with its supervisor (``PR_SET_PDEATHSIG``): a ``linli run`` killed outright leaves no
orphan holding a port its successor needs. Rasa's own worker processes are kept alive inside the
Rasa server (bot.runtime.resilience), which is one child here.
"""
from __future__ import annotations

import ctypes
import json
import logging
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from bot.config.runtime import RuntimeConfig, runtime_config

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child, before it runs: the kernel sends it SIGTERM when the process (thread) that
    started it ends, however that ends."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def next_pause(previous: float, lived: float, config: RuntimeConfig) -> float:
    """The pause before the next start: the first pause after a stable run, else twice the last."""
    if lived >= config.stable_seconds or previous <= 0:
        return config.backoff_first_seconds
    return min(previous * 2, config.backoff_max_seconds)


@dataclass
class Child:
    """One supervised process: how to start it and what became of it."""

    name: str
    start: Callable[..., subprocess.Popen]      # called with Popen options (preexec_fn)
    process: Optional[subprocess.Popen] = None
    started_at: float = 0.0
    restarts: int = 0
    last_exit: Optional[int] = None
    pause: float = 0.0
    due: Optional[float] = None                 # when a dead child is started again

    def launch(self, now: float) -> None:
        self.process, self.started_at, self.due = self.start(preexec_fn=die_with_parent), now, None

    @property
    def launched(self) -> subprocess.Popen:
        """The process of the last launch: a child is launched when it is added."""
        assert self.process is not None, "a child is launched when it is added"
        return self.process

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def state(self) -> dict:
        return {"running": self.running, "pid": self.launched.pid if self.running else None,
                "restarts": self.restarts, "last_exit": self.last_exit}


@dataclass
class Supervisor:
    config: RuntimeConfig = field(default_factory=runtime_config)
    clock: Callable[[], float] = time.monotonic
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._health: Optional[ThreadingHTTPServer] = None

    def add(self, name: str, start: Callable[..., subprocess.Popen]) -> Child:
        """Starts the child now and keeps it running from then on."""
        child = Child(name, start)
        with self._lock:
            child.launch(self.clock())
            self.children.append(child)
        return child

    def check(self) -> None:
        """One look at every child: a dead one is due again after its pause, and started when due."""
        now = self.clock()
        with self._lock:
            for child in self.children:
                if child.due is None and not child.running:
                    child.last_exit = child.launched.returncode
                    child.pause = next_pause(child.pause, now - child.started_at, self.config)
                    child.due = now + child.pause
                    log.error("%s exited with %s; starting it again in %.1f s", child.name, child.last_exit,
                              child.pause)
                if child.due is not None and now >= child.due and not self._stop.is_set():
                    child.restarts += 1
                    child.launch(now)
                    log.warning("%s started again (restart %d, pid %d)", child.name, child.restarts,
                                child.launched.pid)

    def health(self) -> dict:
        with self._lock:
            children = {child.name: child.state() for child in self.children}
        return {"status": "ok" if all(c["running"] for c in children.values()) else "degraded",
                "children": children}

    def serve_health(self, port: Optional[int] = None) -> int:
        """``GET /health`` on 127.0.0.1 (in a thread); returns the port it listens on."""
        supervisor = self

        class Health(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] != "/health":
                    self.send_error(404)
                    return
                report = supervisor.health()
                body = json.dumps(report).encode()
                self.send_response(200 if report["status"] == "ok" else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:  # probes every few seconds are not news
                pass

        self._health = ThreadingHTTPServer(("127.0.0.1", self.config.health_port if port is None else port), Health)
        threading.Thread(target=self._health.serve_forever, name="linli-health", daemon=True).start()
        return self._health.server_address[1]

    def run(self, interval: float = 0.5) -> None:
        """Watches the children until :meth:`request_stop` (a signal handler, another thread)."""
        while not self._stop.wait(interval):
            self.check()

    def request_stop(self, *_signal) -> None:
        """Ends :meth:`run`; usable as a signal handler."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops watching, then the children, last started first."""
        self._stop.set()
        if self._health is not None:
            self._health.shutdown()
            self._health.server_close()
        with self._lock:
            children = [c for c in reversed(self.children) if c.process is not None]
        for child in children:
            if child.launched.poll() is None:
                child.launched.terminate()
        for child in children:
            try:
                child.launched.wait(timeout)
            except subprocess.TimeoutExpired:
                child.launched.kill()
                child.launched.wait(timeout)
