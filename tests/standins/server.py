"""Running aiohttp stand-ins and Sanic apps in-process on free 127.0.0.1 ports."""
from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web


@dataclass
class Running:
    url: str
    stop: Callable[[], Awaitable[None]]


async def serve_aiohttp(app: web.Application) -> Running:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return Running(f"http://127.0.0.1:{port}", runner.cleanup)


async def serve_sanic(app) -> Running:
    """A Sanic app (e.g. Rasa channel blueprints) served for real, as Rasa serves it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.start_serving()
    await server.after_start()

    async def stop() -> None:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        sock.close()

    return Running(f"http://127.0.0.1:{port}", stop)


class LoopThread:
    """An event loop in a thread of its own: stand-ins keep serving while a test blocks on a real
    Linli stack that calls them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
