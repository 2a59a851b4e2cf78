"""Alembic's entry point: migrations run on the connection ``bot.core.migrations`` hands over, against
the metadata of every model module (``bot.core.db.MODEL_MODULES``), so autogenerate sees every table."""
from __future__ import annotations

from alembic import context

from bot.core.db import Base, EnumString, UtcDateTime, import_models
from bot.core.migrations import include_name


def render_item(type_: str, obj, _autogen_context):
    """Revisions stay frozen: our column types are written as the plain types they are in the database."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EnumString):
        return f"sa.String(length={obj.impl.length})"
    return False


import_models()
# Batch mode lets one generated revision alter or drop columns on SQLite as well as on PostgreSQL.
context.configure(connection=context.config.attributes["connection"], target_metadata=Base.metadata,
                  render_as_batch=True, compare_type=True, compare_server_default=True,
                  include_name=include_name, render_item=render_item)
with context.begin_transaction():  # inside the caller's transaction: it holds the schema lock and commits
    context.run_migrations()
