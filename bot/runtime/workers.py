"""Rasa's worker processes (``SANIC_WORKERS``), kept alive inside the Rasa server.

Sanic 21.12 forks its workers once and waits for all of them: a worker that dies is not replaced,
and when the last one dies the server stops answering while its main process lives on. This is
Sanic's own ``serve_multiple`` with that one wait changed: a dead worker is forked again, after
the pause bot.runtime.supervision uses for processes, while the server is not stopping. Workers
die with the main process (no orphan keeps the port).
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from multiprocessing.connection import wait
from signal import SIG_DFL, SIGINT, SIGTERM, Signals
from signal import signal as signal_func

from sanic.log import logger
from sanic.server import serve
from sanic.server.events import trigger_events
from sanic.server.socket import bind_socket, bind_unix_socket, remove_unix_socket

from bot.config.runtime import runtime_config
from bot.runtime.supervision import die_with_parent, next_pause


def _worker(**server_settings) -> None:
    """A fresh worker: the main process's signal handlers are not its own (Sanic's server sets
    the worker's when it starts serving); until then SIGTERM simply ends it."""
    signal_func(SIGINT, SIG_DFL)
    signal_func(SIGTERM, SIG_DFL)
    die_with_parent()
    serve(**server_settings)


def serve_multiple(server_settings, workers):
    """Sanic's ``serve_multiple`` (sanic/server/runners.py), replacing workers that die."""
    server_settings["reuse_port"] = True
    server_settings["run_multiple"] = True
    main_start = server_settings.pop("main_start", None)
    main_stop = server_settings.pop("main_stop", None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    trigger_events(main_start, loop)

    sock = server_settings.get("sock")
    unix = server_settings["unix"]
    backlog = server_settings["backlog"]
    if unix:
        sock = bind_unix_socket(unix, backlog=backlog)
        server_settings["unix"] = unix
    if sock is None:
        sock = bind_socket(server_settings["host"], server_settings["port"], backlog=backlog)
        sock.set_inheritable(True)
        server_settings["sock"] = sock
        server_settings["host"] = None
        server_settings["port"] = None

    stopping, processes = [], []

    def sig_handler(signal, frame):
        logger.info("Received signal %s. Shutting down.", Signals(signal).name)
        stopping.append(signal)
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, SIGTERM)

    signal_func(SIGINT, lambda s, f: sig_handler(s, f))
    signal_func(SIGTERM, lambda s, f: sig_handler(s, f))
    mp = multiprocessing.get_context("fork")

    def start():
        process = mp.Process(target=_worker, kwargs=server_settings)
        process.daemon = True
        process.start()
        return process, time.monotonic()

    slots = [start() for _ in range(workers)]
    processes[:] = [process for process, _ in slots]
    pauses, due = [0.0] * workers, [None] * workers
    config = runtime_config()
    while not stopping:
        wait([p.sentinel for p in processes if p.is_alive()], timeout=0.5)
        now = time.monotonic()
        for index, (process, started) in enumerate(slots):
            if process.is_alive() or stopping:
                continue
            if due[index] is None:  # a worker failing at start-up must not be forked in a tight loop
                pauses[index] = next_pause(pauses[index], now - started, config)
                due[index] = now + pauses[index]
                logger.error("Rasa worker %s exited with %s; another in %.1f s", process.pid, process.exitcode,
                             pauses[index])
            elif now >= due[index]:
                slots[index], due[index] = start(), None
                processes[index] = slots[index][0]

    for process in processes:
        process.join()
    trigger_events(main_stop, loop)
    sock.close()
    loop.close()
    remove_unix_socket(unix)


def install() -> None:
    import sanic.app

    sanic.app.serve_multiple = serve_multiple
