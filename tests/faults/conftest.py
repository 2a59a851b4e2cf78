"""What the fault tests share: restarting a part of a running stack the way supervision would."""
from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import redis

from bot.runtime import processes
from tests.stack import Stack, free_port


@contextmanager
def stack_environment(stack: Stack):
    """The stack's LINLI_* settings in this process while a part of it is (re)started."""
    old = dict(os.environ)
    os.environ.update(stack.env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def kill(process: subprocess.Popen) -> None:
    """kill -9, and reaped."""
    process.kill()
    process.wait(10)


def restart_action_server(stack: Stack) -> subprocess.Popen:
    """A fresh action server in place of the first process of the stack; returns once it listens."""
    with stack_environment(stack), open(stack.logs[0], "ab") as log:
        server = processes.start_action_server(stack.settings, env=stack.env, stdout=log, stderr=subprocess.STDOUT)
    stack.processes[0] = server
    processes.wait_for_port(stack.settings.action_port, 120, server)
    return server


class PrivateRedis:
    """A redis-server of this test's own on a free port: the one the suite kills."""

    def __init__(self, directory: Path) -> None:
        self.port, self.directory, self.process = free_port(), directory, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.directory / "redis.log", "ab")
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
                                         "--dir", str(self.directory)], stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
