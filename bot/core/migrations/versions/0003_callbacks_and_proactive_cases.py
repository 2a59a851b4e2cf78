"""call-backs: open key, community, ticket, preferred time, steps; proactive cases

Revision 0003, after 0002, written 2026-12-02 20:01:55.086738.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('proactive_cases',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('season', sa.String(length=32), nullable=False),
    sa.Column('season_start', sa.String(length=10), nullable=False),
    sa.Column('community', sa.String(length=64), nullable=False),
    sa.Column('building', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('repeats', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('ticket_id', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('season', 'season_start', 'community', 'building', 'category', name='uq_proactive_case')
    )
    with op.batch_alter_table('proactive_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proactive_cases_status'), ['status'], unique=False)

    op.create_table('callback_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('callback_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['callback_id'], ['callback_requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('callback_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_events_callback_id'), ['callback_id'], unique=False)

    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('community', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('ticket_id', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('preferred_time', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('done_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('done_planned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_callback_requests_community'), ['community'], unique=False)
        batch_op.create_unique_constraint('uq_callback_requests_open_key', ['open_key'])



def downgrade() -> None:
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.drop_constraint('uq_callback_requests_open_key', type_='unique')
        batch_op.drop_index(batch_op.f('ix_callback_requests_community'))
        batch_op.drop_column('done_planned_at')
        batch_op.drop_column('done_note')
        batch_op.drop_column('done_by')
        batch_op.drop_column('done_at')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('notified_at')
        batch_op.drop_column('planned_at')
        batch_op.drop_column('preferred_time')
        batch_op.drop_column('ticket_id')
        batch_op.drop_column('community')
        batch_op.drop_column('open_key')

    with op.batch_alter_table('callback_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callback_events_callback_id'))

    op.drop_table('callback_events')
    with op.batch_alter_table('proactive_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proactive_cases_status'))

    op.drop_table('proactive_cases')
