"""What the fault tests share: restarting a part of a running stack the way supervision would."""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager

from bot.runtime import processes
from tests.stack import Stack


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
