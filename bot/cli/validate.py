"""``linli validate``: Rasa's check of the training data, on this project's layout.

The domain is a folder of its own (``dialogs/domain``) inside ``dialogs/``: it is given once, with
``--domain``, and only the rules and the NLU files as ``--data`` (``--data nlu dialogs`` would read
the domain files a second time and report every response as duplicated).
"""
from __future__ import annotations

import argparse

from bot.core.settings import PROJECT_ROOT

DOMAIN = PROJECT_ROOT / "dialogs" / "domain"


def data_paths() -> list[str]:
    """The NLU folder and every dialogue file outside the domain, relative to the project."""
    dialogues = sorted(str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "dialogs").rglob("*.yml")
                       if DOMAIN not in p.parents)
    return ["nlu", *dialogues]


def _cmd_validate(_args: argparse.Namespace) -> int:
    from bot.runtime.processes import rasa_command

    return rasa_command("data", "validate", "--fail-on-warnings", "--config", "config.yml",
                        "--domain", str(DOMAIN.relative_to(PROJECT_ROOT)), "--data", *data_paths()).returncode


def register(sub) -> None:
    validate = sub.add_parser("validate", help="rasa data validate on the project's own domain, rules and NLU data")
    validate.set_defaults(func=_cmd_validate)
