"""tickets: first response time, backfilled from the history

Revision 0004, after 0003, written 2026-12-04 19:00:26.750150.

The response rate used to find each ticket's first response among all history events; the ticket
now keeps it (``first_response_at``, written by the store with that step). Tickets filed before
this revision get it from their history by the store's rule (``is_response`` in
bot/tickets/store.py): the earliest ``accepted`` (签收), ``in_progress`` or ``resolved`` step, or note by ``staff:…``,
by anyone but Linli and the reporter. One UPDATE, the same SQL on SQLite and PostgreSQL.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE tickets SET first_response_at = (
    SELECT min(e.at) FROM ticket_events e
    WHERE e.ticket_id = tickets.id AND e.actor <> 'linli'
      AND e.actor <> (tickets.reporter_channel || ':' || tickets.reporter_id)
      AND (e.action IN ('accepted', 'in_progress', 'resolved') OR (e.action = 'note' AND e.actor LIKE 'staff:%')))
"""


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text(BACKFILL))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('first_response_at')
