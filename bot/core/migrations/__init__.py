"""Schema migrations (Alembic): every change to a table is a numbered revision in ``versions/``.

Start-up (``bot.core.db.init_db``) and ``linli db upgrade`` bring a database to the newest revision;
``linli db revision -m "what changed"`` writes the next one by comparing the models with a scratch
database built from the existing revisions. Only the tables the models define are compared: the
scheduler's job table and Rasa's tracker tables may share the database and are never touched.
Imports only ``bot.core``.
"""
from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).parent
VERSIONS = SCRIPT_LOCATION / "versions"
_REVISION_ID = re.compile(r"^\d{4}$")


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an alembic.ini: the scripts here, revisions named ``0001_slug.py``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Runs the missing revisions inside the caller's transaction (the caller holds the schema lock)."""
    command.upgrade(config(connection), revision)


def current(connection: Connection) -> str | None:
    """The revision the database is at; None for a database no revision has touched."""
    return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The newest revision in ``versions/``; several heads (two branches each adding one) are refused."""
    heads = ScriptDirectory.from_config(config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads ({', '.join(heads)}): renumber the newer "
                           "revision so its down_revision is the other")
    return heads[0]


def differences(connection: Connection) -> list:
    """What autogenerate would change to make this database match the models ([] when they agree)."""
    from bot.core.db import Base, import_models

    import_models()
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "compare_server_default": True, "include_name": include_name,
        "target_metadata": Base.metadata})
    return compare_metadata(context, Base.metadata)


def include_name(name: str | None, type_: str, _parent_names: Mapping) -> bool:
    """Autogenerate looks only at Linli's own tables, never at others sharing the database."""
    from bot.core.db import Base

    return type_ != "table" or name in Base.metadata.tables


def new_revision(message: str, autogenerate: bool = True) -> Path:
    """Writes the next revision: what the models have that the existing revisions do not build.

    The comparison runs against a scratch SQLite database upgraded to head, so no real database is
    needed. Review the file it writes (a renamed column shows up as drop and add).
    """
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'head.db'}", future=True)
        try:
            with engine.connect() as connection:
                upgrade(connection)
                connection.commit()
                script = command.revision(config(connection), message=message, autogenerate=autogenerate,
                                          rev_id=_next_id())
        finally:
            engine.dispose()
    assert isinstance(script, Script), script  # one revision, no branches
    return Path(script.path)


def _next_id() -> str:
    numbers = [int(path.name[:4]) for path in VERSIONS.glob("*.py") if _REVISION_ID.match(path.name[:4])]
    return f"{max(numbers, default=0) + 1:04d}"
