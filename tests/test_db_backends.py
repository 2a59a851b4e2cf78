"""The storage layer on both backends: engines, sessions, schema creation, and the store under load
from many threads at once (the action server's thread pool, the scheduler and a CLI share one database)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from bot.core import db
from bot.tickets.errors import IllegalTransition
from bot.tickets.models import Ticket, TicketEvent, TicketSequence
from bot.tickets.store import TicketStore

THREADS, PER_THREAD = 8, 25


def together(count: int, work):
    """Runs ``work(i)`` in ``count`` threads released at the same moment; returns results or errors."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        try:
            return work(i)
        except Exception as error:  # noqa: BLE001 - the caller inspects what each thread got
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def leak(store, reporter_id="alice"):
    return store.create(category="leak", description="厨房顶上渗水", reporter_channel="rest",
                        reporter_id=reporter_id, community="万柳西园社区", building="5")


# -- engines -------------------------------------------------------------------------------------

def test_sqlite_engine_is_cached_creates_its_folder_and_runs_in_wal(tmp_path):
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'linli.db'}"
    engine = db.get_engine(url)
    assert db.get_engine(url) is engine and (tmp_path / "a" / "b").is_dir()
    with engine.connect() as connection:
        pragmas = [connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "busy_timeout", "foreign_keys")]
    assert pragmas == ["wal", db.SQLITE_BUSY_TIMEOUT_MS, 1]
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url):
    with pytest.raises(ValueError, match="give SQLite a file"):
        db.get_engine(url)


def test_postgres_urls_go_through_psycopg2(pg_engine):
    assert pg_engine.dialect.name == "postgresql" and pg_engine.dialect.driver == "psycopg2"
    lazy = db.get_engine("postgres://postgres@127.0.0.1:5432/test")
    assert lazy.dialect.driver == "psycopg2"


def test_default_url_comes_from_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    assert db.get_engine().url.database == str(tmp_path / "from-env.db")


# -- sessions and schema -------------------------------------------------------------------------

def test_session_scope_commits_or_rolls_back(engine):
    with db.session_scope(engine) as session:
        session.add(TicketSequence(day="20261122", last=3))
    with pytest.raises(RuntimeError), db.session_scope(engine) as session:
        session.get(TicketSequence, "20261122").last = 99
        raise RuntimeError("abandoned")
    with db.session_scope(engine) as session:
        assert session.get(TicketSequence, "20261122").last == 3


def test_init_db_is_idempotent_and_safe_when_processes_start_together(engine):
    leak(TicketStore(engine=engine))
    errors = [e for e in together(6, lambda i: db.init_db(engine)) if e is not None]
    assert errors == []
    with db.session_scope(engine) as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar() == 1


def test_a_fresh_database_can_be_created_by_many_processes_at_once(tmp_path):
    engine = db.get_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert [e for e in together(6, lambda i: db.init_db(engine)) if e is not None] == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tickets")).scalar() == 0
    engine.dispose()


# -- the store under concurrency -----------------------------------------------------------------

def test_ids_are_unique_and_contiguous_under_concurrency(engine, clock):
    store = TicketStore(engine=engine, clock=clock)
    batches = together(THREADS, lambda t: [leak(store, f"t{t}-{n}").id for n in range(PER_THREAD)])
    assert not [b for b in batches if isinstance(b, Exception)], batches
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == THREADS * PER_THREAD
    assert sorted(int(i[-4:]) for i in ids) == list(range(1, THREADS * PER_THREAD + 1))
    assert {i[:10] for i in ids} == {"GD20261122"}
    with db.session_scope(engine) as session:
        assert session.execute(select(func.count()).select_from(TicketEvent)).scalar() == 2 * len(ids)


def test_racing_transitions_let_exactly_one_win(engine, clock):
    store = TicketStore(engine=engine, clock=clock)
    ticket = leak(store)
    outcomes = together(THREADS, lambda i: store.transition(ticket.id, "resolved", f"staff:{i}"))
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, IllegalTransition) for o in outcomes if o not in winners)
    assert [e.action for e in store.get(ticket.id).history] == ["created", "dispatched", "resolved"]


def test_concurrent_notes_are_all_kept(engine, clock):
    store = TicketStore(engine=engine, clock=clock)
    ticket = leak(store)
    together(THREADS, lambda i: store.add_note(ticket.id, f"staff:{i}", f"第{i}条"))
    notes = sorted(e.note for e in store.get(ticket.id).history if e.action == "note")
    assert notes == sorted(f"第{i}条" for i in range(THREADS))


def test_moments_are_stored_as_utc_and_read_back_aware(engine):
    beijing_ten = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    store = TicketStore(engine=engine, clock=lambda: beijing_ten)
    ticket = leak(store)
    assert ticket.created_at == beijing_ten and ticket.created_at.tzinfo == timezone.utc
    assert ticket.history[0].at.utcoffset() == timedelta(0)
    later = TicketStore(engine=engine, clock=lambda: beijing_ten + timedelta(days=7, minutes=1))
    assert [t.id for t in later.list(overdue=True)] == [ticket.id]
    with db.session_scope(engine) as session:
        stored = session.execute(text("SELECT created_at FROM tickets")).scalar()
    if engine.dialect.name == "sqlite":  # a zone-less string there: it must be the UTC wall time
        assert stored.startswith("2026-11-23 02:00:00")
    else:
        assert stored == beijing_ten
