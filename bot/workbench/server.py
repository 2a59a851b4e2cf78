"""Serving the workbench: ``python -m bot.workbench.server`` (what ``linli console`` and
:func:`start_console` run), Sanic on LINLI_CONSOLE_HOST:LINLI_CONSOLE_PORT (127.0.0.1:5080)."""
from __future__ import annotations

import subprocess
import sys

from bot.core.settings import PROJECT_ROOT, Settings, get_settings
from bot.workbench.config import console_host, console_port


def start_console(settings: Settings | None = None, **popen) -> subprocess.Popen:
    """The workbench as a process of its own, for `linli run` to start beside Rasa (``popen`` as
    for the other servers: env, stdout, stderr)."""
    return subprocess.Popen([sys.executable, "-m", "bot.workbench.server"], cwd=PROJECT_ROOT, **popen)


def serve(settings: Settings | None = None, host: str | None = None, port: int | None = None) -> None:
    from bot.privacy import logs
    from bot.workbench.app import create_app

    logs.install()
    app = create_app(settings or get_settings())
    app.config.MOTD = False
    app.run(host=host or console_host(), port=port or console_port(), access_log=False, workers=1)


if __name__ == "__main__":
    serve()
