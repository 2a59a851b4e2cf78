"""rasa-sdk's action server, with Sanic's workers kept alive and dying with it (``bot.runtime.workers``,
the same fix the Rasa server gets). Run as ``python -m bot.runtime.action_server`` with the arguments
of ``python -m rasa_sdk``; ``ACTION_SERVER_SANIC_WORKERS`` sets how many workers.
"""
from __future__ import annotations

from bot.runtime import workers

if __name__ == "__main__":
    workers.install()
    from rasa_sdk.__main__ import main

    main()
