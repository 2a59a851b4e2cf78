"""Rasa's own command line, with Linli's fixes to Rasa's per-turn work installed first
(``bot.runtime.speedups``). Run as ``python -m bot.runtime.rasa_server`` with the arguments of ``rasa``.
"""
from __future__ import annotations

import sys

from bot.runtime import speedups


def install() -> None:
    speedups.install()


if __name__ == "__main__":
    from bot.privacy import logs

    logs.install()
    install()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
