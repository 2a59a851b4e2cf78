"""Schema migrations on SQLite and PostgreSQL: the revisions build exactly the models' schema, a
database made by the old ``create_all`` is adopted and upgraded with its rows intact, a new revision
is one command, and ``linli db`` reports where a database stands."""
from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, String, Table, func, insert, inspect, select

from bot.core import db, migrations
from bot.core.settings import PROJECT_ROOT
from bot.tickets.models import Ticket, TicketEvent
from tests.fixtures_db import scratch_schema

HOW_TO_FIX = ("the models and the migrations disagree: write the revision with "
              "`linli db revision -m \"what changed\"`, review it, and commit it")


@pytest.fixture(params=["sqlite", "pg"])
def blank_engine(request, tmp_path, pg_schema):
    """An engine on an empty database (no table, no revision) on each backend."""
    if request.param == "sqlite":
        engine = db.get_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_schema(pg_schema) as url:
        engine = db.get_engine(url)
        yield engine
        engine.dispose()


def state(engine) -> tuple[str | None, list]:
    with engine.connect() as connection:
        return migrations.current(connection), migrations.differences(connection)


def test_the_migrations_build_exactly_the_models_schema(engine):
    at, differences = state(engine)
    assert differences == [], HOW_TO_FIX
    assert at == migrations.head()


def made_by_create_all(engine) -> None:
    """A database as ``create_all`` made it before migrations existed: revision 0001's schema (which
    is that schema), without the mark of a revision."""
    with engine.begin() as connection:
        migrations.upgrade(connection, "0001")
        connection.exec_driver_sql("DROP TABLE alembic_version")


def test_a_database_made_by_create_all_is_adopted_and_keeps_its_rows(blank_engine):
    made_by_create_all(blank_engine)
    with blank_engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO tickets (id, category, description, photos, reporter_channel, reporter_id, source, status,"
            " created_at, updated_at) VALUES ('GD202611220001', 'leak', '厨房顶上渗水', '[]', 'rest',"
            " 'alice', 'resident', 'new', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    assert state(blank_engine)[0] is None

    db.init_db(blank_engine)

    assert state(blank_engine) == (migrations.head(), [])
    with db.session_scope(blank_engine) as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar() == 1


def test_an_older_create_all_database_gets_the_tables_and_indexes_it_lacks(blank_engine):
    """A street whose database predates the workbench has neither its tables nor its index on tickets."""
    made_by_create_all(blank_engine)
    with blank_engine.begin() as connection:
        workbench = [name for name in inspect(connection).get_table_names()
                     if name.startswith(("console_", "misunderstood"))]
        for name in workbench:
            connection.exec_driver_sql(f"DROP TABLE {name}")
        connection.exec_driver_sql("DROP INDEX ix_console_tickets_deadline")

    db.init_db(blank_engine)

    assert state(blank_engine) == (migrations.head(), [])
    assert set(workbench) <= set(inspect(blank_engine).get_table_names())


def test_upgrading_twice_changes_nothing(blank_engine):
    db.init_db(blank_engine)
    db.init_db(blank_engine)
    assert state(blank_engine) == (migrations.head(), [])


def test_tables_others_keep_in_the_database_are_left_alone(blank_engine):
    """The scheduler's job table (and Rasa's tracker tables) may share the database: never compared or dropped."""
    with blank_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE linli_jobs (id VARCHAR(191) PRIMARY KEY)")
    db.init_db(blank_engine)
    assert state(blank_engine) == (migrations.head(), [])
    assert "linli_jobs" in inspect(blank_engine).get_table_names()


FILED = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)


def filed_before_0004(connection, ticket_id: str, reporter: str, steps: list[tuple[float, str, str]]) -> None:
    """A ticket as revision 0003's store wrote it, with its history: (hours after filing, actor, action)."""
    channel, sender = reporter.split(":")
    connection.execute(insert(Ticket), [{
        "id": ticket_id, "category": "leak", "description": "厨房顶上渗水", "photos": [], "reporter_channel": channel,
        "reporter_id": sender, "source": "resident", "status": "in_progress", "created_at": FILED,
        "updated_at": FILED}])
    connection.execute(insert(TicketEvent), [
        {"ticket_id": ticket_id, "at": FILED + timedelta(hours=hours), "actor": actor, "action": action}
        for hours, actor, action in [(0, reporter, "created"), (0, "linli", "dispatched"), *steps]])


def test_tickets_filed_before_0004_get_their_first_response_from_their_history(blank_engine):
    """The response rate reads ``first_response_at``: 0004 fills it for the tickets already there by
    the store's rule, so a report over months on both sides of the upgrade keeps its numbers."""
    with blank_engine.begin() as connection:
        migrations.upgrade(connection, "0003")
        filed_before_0004(connection, "GD202611220001", "rest:alice", [
            (1, "rest:alice", "resolved"),  # the reporter's own step is no response
            (2, "linli", "in_progress"),  # nor Linli's
            (3, "wecom:zhang", "note"),  # a note is one only from staff
            (4, "staff:wang", "note"),
            (6, "wecom:zhang", "in_progress")])
        filed_before_0004(connection, "GD202611220002", "rest:bob", [(5, "rest:bob", "note")])
        filed_before_0004(connection, "GD202611220003", "rest:carol", [
            (5, "wecom:sh-desk", "accepted"),  # the handler signing for it (签收) is its response
            (8, "wecom:sh-desk", "resolved")])

    db.init_db(blank_engine)

    assert state(blank_engine) == (migrations.head(), [])
    with db.session_scope(blank_engine) as session:
        first = dict(session.execute(select(Ticket.id, Ticket.first_response_at)).all())
    assert first == {"GD202611220001": FILED + timedelta(hours=4), "GD202611220002": None,
                     "GD202611220003": FILED + timedelta(hours=5)}


@pytest.fixture
def scratch_migrations(tmp_path, monkeypatch):
    """A copy of the migrations to write revisions into, so the repository's stay as they are."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPT_LOCATION, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "SCRIPT_LOCATION", copy)
    monkeypatch.setattr(migrations, "VERSIONS", copy / "versions")
    return copy


@pytest.fixture
def probe_table():
    """A table a feature has just added to its models and no revision builds yet."""
    table = Table("gates_probe", db.Base.metadata, Column("id", Integer, primary_key=True),
                  Column("note", String(32), nullable=False))
    yield table
    db.Base.metadata.remove(table)


def test_a_new_revision_is_one_command_and_brings_a_database_level_with_the_models(
        scratch_migrations, probe_table, blank_engine):
    db.init_db(blank_engine)
    assert [(kind, table.name) for kind, table in state(blank_engine)[1]] == [("add_table", "gates_probe")]
    following = f"{int(migrations.head()) + 1:04d}"

    path = migrations.new_revision("gates probe table")

    assert path.name == f"{following}_gates_probe_table.py" and migrations.head() == following
    assert "op.create_table('gates_probe'" in path.read_text()
    db.init_db(blank_engine)
    assert state(blank_engine) == (following, [])


def test_two_branches_each_adding_a_revision_are_refused_with_a_way_out(scratch_migrations):
    first = scratch_migrations / "versions" / "0001_initial_schema.py"
    twin = first.read_text().replace('revision = "0001"', 'revision = "0001b"')
    (scratch_migrations / "versions" / "0001b_twin.py").write_text(twin)
    with pytest.raises(RuntimeError, match="2 heads"):
        migrations.head()


def linli(*args, env):
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


def test_linli_db_upgrade_and_current(tmp_path):
    import os

    env = {**os.environ, "LINLI_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    before = linli("db", "current", env=env)
    assert before.returncode == 0, before.stderr[-2000:]
    assert before.stdout.strip() == f"database at no revision; newest revision {migrations.head()}"
    upgraded = linli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    assert upgraded.stdout.strip() == f"database at {migrations.head()}; newest revision {migrations.head()}"
