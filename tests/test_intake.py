"""Idempotent filing: one report gives one ticket, whoever confirms it how often, on SQLite and on
PostgreSQL, including processes racing on one database."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from bot.core import db
from bot.core.db import session_scope
from bot.tickets.intake import intake_key
from bot.tickets.models import Ticket, TicketEvent
from bot.tickets.store import TicketStore

REPORT = {"category": "leak", "description": "屋顶漏水，下雨就滴", "reporter_channel": "rest",
          "reporter_id": "alice", "community": "万柳西园", "building": "5", "phone": "13812345678"}


def count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar()


def test_confirming_the_same_report_again_gives_the_same_ticket(store, engine):
    first = store.create(**REPORT, intake_key="report_form@1.000000")
    again = store.create(**REPORT, intake_key="report_form@1.000000")
    assert again.id == first.id
    assert count(engine, Ticket) == 1 and count(engine, TicketEvent) == 2  # created + dispatched, once


def test_the_next_report_and_another_resident_get_their_own_tickets(store, engine):
    first = store.create(**REPORT, intake_key="report_form@1.000000")
    following = store.create(**REPORT, intake_key="report_form@2.000000")
    neighbour = store.create(**{**REPORT, "reporter_id": "bob"}, intake_key="report_form@1.000000")
    unkeyed = [store.create(**REPORT), store.create(**REPORT)]
    assert len({first.id, following.id, neighbour.id, *(t.id for t in unkeyed)}) == 5


def test_processes_racing_on_one_database_file_one_ticket(engine):
    """Eight engines (as eight processes would have) confirm the same report at the same moment."""
    engines = [db.get_engine(str(engine.url)) if engine.dialect.name == "sqlite" else
               db.get_engine(engine.url.render_as_string(hide_password=False)) for _ in range(8)]
    start, results, errors = threading.Barrier(len(engines)), [], []

    def confirm(own) -> None:
        start.wait()
        try:
            results.append(TicketStore(engine=own).create(**REPORT, intake_key="report_form@7.000000").id)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=confirm, args=(own,)) for own in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for own in engines:
        own.dispose()
    assert not errors, errors
    assert len(results) == 8 and len(set(results)) == 1
    assert count(engine, Ticket) == 1


def test_the_key_is_the_start_of_the_latest_run_of_the_form():
    events = [{"event": "active_loop", "name": "report_form", "timestamp": 100.25},
              {"event": "active_loop", "name": None, "timestamp": 101.0},
              {"event": "active_loop", "name": "report_form", "timestamp": 200.5},
              {"event": "user", "text": "确认", "timestamp": 230.0}]
    assert intake_key(events, "report_form") == "report_form@200.500000"
    assert intake_key(events[:1], "report_form") == "report_form@100.250000"
    assert intake_key([{"event": "user", "timestamp": 1.0}], "report_form") is None
