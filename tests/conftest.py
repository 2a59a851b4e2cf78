"""Shared fixtures: database backends (tests/fixtures_db.py), the trained model, a running stack."""
from __future__ import annotations

import asyncio

import pytest

from tests.stack import start_stack

pytest_plugins = ["tests.fixtures_db"]


@pytest.fixture(scope="session")
def nlu_parser():
    """The trained model, loaded once (`./dev test` trains it before pytest starts)."""
    from bot.cli.serve import Parser

    return Parser()


@pytest.fixture(scope="session")
def parse(nlu_parser):
    loop = asyncio.new_event_loop()
    yield lambda text: loop.run_until_complete(nlu_parser.parse(text))
    loop.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Action server + Rasa server with the REST channel and a fresh SQLite database, for one test
    module: residents of different modules report the same problems in the same buildings, and
    on a shared stack would be offered each other's tickets as duplicates depending on test order."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()
