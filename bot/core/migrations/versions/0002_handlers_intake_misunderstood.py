"""handlers' dispatches, returns and extensions; intake keys; misunderstood reasons; the queue index on tickets

Revision 0002, after 0001, written 2026-12-02 19:58:36.273299.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('handler_extensions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=16), nullable=False),
    sa.Column('handler_name', sa.String(length=64), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('handler_extensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handler_extensions_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_handler_extensions_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('handler_returns',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=16), nullable=False),
    sa.Column('handler_name', sa.String(length=64), nullable=False),
    sa.Column('returned_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('handler_returns', schema=None) as batch_op:
        batch_op.create_index('ix_handler_returns_handler', ['handler_name', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_handler_returns_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('handler_dispatches',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.String(length=16), nullable=False),
    sa.Column('handler_name', sa.String(length=64), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified', sa.String(length=200), nullable=True),
    sa.Column('sign_overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['ticket_events.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('handler_dispatches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handler_dispatches_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('misunderstood_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=16), nullable=False, server_default='fallback'))
        batch_op.add_column(sa.Column('message_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_misunderstood_messages_message_id', ['message_id'])

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intake_key', sa.String(length=64), nullable=True))
        batch_op.drop_index(batch_op.f('ix_console_tickets_deadline'))
        batch_op.create_index('ix_tickets_deadline_id', ['deadline', 'id'], unique=False)
        batch_op.create_unique_constraint('uq_tickets_intake', ['reporter_channel', 'reporter_id', 'intake_key'])



def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint('uq_tickets_intake', type_='unique')
        batch_op.drop_index('ix_tickets_deadline_id')
        batch_op.create_index(batch_op.f('ix_console_tickets_deadline'), ['deadline', 'id'], unique=False)
        batch_op.drop_column('intake_key')

    with op.batch_alter_table('misunderstood_messages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_misunderstood_messages_message_id', type_='unique')
        batch_op.drop_column('message_id')
        batch_op.drop_column('reason')

    with op.batch_alter_table('handler_dispatches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handler_dispatches_ticket_id'))

    op.drop_table('handler_dispatches')
    with op.batch_alter_table('handler_returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handler_returns_ticket_id'))
        batch_op.drop_index('ix_handler_returns_handler')

    op.drop_table('handler_returns')
    with op.batch_alter_table('handler_extensions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handler_extensions_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_handler_extensions_status'))

    op.drop_table('handler_extensions')
