"""Supervision of `linli run`'s processes: a dead child is reported by /health and started again after
a pause that doubles while it keeps dying; Rasa's worker processes are replaced inside the server."""
from __future__ import annotations

import subprocess
import sys

import httpx

from bot.config.runtime import RuntimeConfig
from bot.runtime.supervision import Supervisor, next_pause

CONFIG = RuntimeConfig(system_busy="系统忙", backoff_first_seconds=0.5, backoff_max_seconds=4,
                       stable_seconds=60, health_port=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sleeper(**popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], **popen)


def test_the_pause_doubles_while_a_child_keeps_dying_and_starts_over_after_a_stable_run():
    pauses, pause = [], 0.0
    for _ in range(5):
        pause = next_pause(pause, lived=1, config=CONFIG)
        pauses.append(pause)
    assert pauses == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert next_pause(4.0, lived=61, config=CONFIG) == 0.5


def test_a_killed_child_is_reported_then_started_again_after_its_pause():
    clock = Clock()
    supervisor = Supervisor(config=CONFIG, clock=clock)
    try:
        child = supervisor.add("actions", sleeper)
        port = supervisor.serve_health(port=0)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.status_code == 200 and health.json()["children"]["actions"]["running"]

        first = child.process
        first.kill()
        first.wait(10)
        clock.now += 1
        supervisor.check()
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.status_code == 503
        assert health.json() == {"status": "degraded", "children": {"actions": {
            "running": False, "pid": None, "restarts": 0, "last_exit": -9}}}

        clock.now += 0.4
        supervisor.check()
        assert child.process is first, "started again before its pause was over"
        clock.now += 0.2
        supervisor.check()
        assert child.process is not first and child.running
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert health["status"] == "ok" and health["children"]["actions"]["restarts"] == 1

        child.process.kill()
        child.process.wait(10)
        clock.now += 1  # it lived a second: the next pause is twice the first
        supervisor.check()
        assert child.due == clock.now + 1.0
    finally:
        supervisor.stop()
    assert child.process.poll() is not None
