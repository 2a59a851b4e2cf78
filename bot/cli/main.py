"""The ``linli`` command: the parser and the subcommands of every area of work."""
from __future__ import annotations

import argparse
import importlib
import sys

#: Modules that add their own subcommands (``register(subparsers)``), one per area of work.
CLI_MODULES: tuple[str, ...] = ("bot.cli.serve", "bot.cli.tickets", "bot.cli.schedule", "bot.cli.nudges",
                                 "bot.cli.channels", "bot.cli.broadcast", "bot.cli.report", "bot.cli.staff",
                                 "bot.cli.handlers", "bot.cli.console", "bot.cli.db", "bot.cli.validate",
                                 "bot.cli.callbacks", "bot.cli.proactive")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linli", description="Linli (邻里) community assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    for module in CLI_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bot.privacy import logs

    logs.install()  # every process the CLI is (the console, `linli run`, the tools): no phone in its log
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
