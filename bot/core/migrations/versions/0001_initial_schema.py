"""The schema as ``create_all`` made it before migrations existed.

A database made by ``create_all`` is adopted rather than refused: only the tables and indexes it
lacks are created, so upgrading it changes nothing that is there. Later revisions are plain.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _create_table(name: str, *columns_and_constraints) -> None:
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *columns_and_constraints)


def _create_index(name: str, table: str, columns: list[str]) -> None:
    if name not in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(table)}:
        op.create_index(name, table, columns)


def upgrade() -> None:
    _create_table('broadcasts',
                  sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                  sa.Column('text', sa.Text(), nullable=False),
                  sa.Column('image', sa.String(length=512), nullable=True),
                  sa.Column('image_channel', sa.String(length=32), nullable=True),
                  sa.Column('audience', sa.String(length=16), nullable=False),
                  sa.Column('community', sa.String(length=64), nullable=True),
                  sa.Column('building', sa.String(length=16), nullable=True),
                  sa.Column('topic', sa.String(length=16), nullable=True),
                  sa.Column('author_channel', sa.String(length=32), nullable=False),
                  sa.Column('author_id', sa.String(length=128), nullable=False),
                  sa.Column('status', sa.String(length=16), nullable=False),
                  sa.Column('send_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('cancelled_by', sa.String(length=200), nullable=True),
                  sa.Column('runner', sa.String(length=64), nullable=True),
                  sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
                  sa.PrimaryKeyConstraint('id')
                  )
    _create_index('ix_broadcasts_status', 'broadcasts', ['status'])
    _create_table('callback_requests',
                  sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('phone', sa.String(length=16), nullable=True),
                  sa.Column('note', sa.Text(), nullable=True),
                  sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('expected_by', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('status', sa.String(length=16), nullable=False),
                  sa.PrimaryKeyConstraint('id')
                  )
    _create_index('ix_callback_requests_status', 'callback_requests', ['status'])
    _create_table('console_attachments',
                  sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                  sa.Column('ticket_id', sa.String(length=16), nullable=False),
                  sa.Column('path', sa.String(length=512), nullable=False),
                  sa.Column('action', sa.String(length=32), nullable=False),
                  sa.Column('uploaded_by', sa.String(length=200), nullable=False),
                  sa.Column('at', sa.DateTime(timezone=True), nullable=False),
                  sa.PrimaryKeyConstraint('id')
                  )
    _create_index('ix_console_attachments_ticket_id', 'console_attachments', ['ticket_id'])
    _create_table('console_audit',
                  sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                  sa.Column('at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('role', sa.String(length=16), nullable=True),
                  sa.Column('channel', sa.String(length=32), nullable=True),
                  sa.Column('sender_id', sa.String(length=128), nullable=True),
                  sa.Column('action', sa.String(length=32), nullable=False),
                  sa.Column('ticket_id', sa.String(length=16), nullable=True),
                  sa.Column('target', sa.String(length=128), nullable=True),
                  sa.Column('outcome', sa.String(length=16), nullable=False),
                  sa.Column('detail', sa.Text(), nullable=True),
                  sa.Column('ip', sa.String(length=64), nullable=True),
                  sa.PrimaryKeyConstraint('id')
                  )
    _create_index('ix_console_audit_at', 'console_audit', ['at'])
    _create_index('ix_console_audit_ticket_id', 'console_audit', ['ticket_id'])
    _create_table('console_links',
                  sa.Column('token_hash', sa.String(length=64), nullable=False),
                  sa.Column('role', sa.String(length=16), nullable=False),
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('used_ip', sa.String(length=64), nullable=True),
                  sa.PrimaryKeyConstraint('token_hash')
                  )
    _create_table('console_sessions',
                  sa.Column('token_hash', sa.String(length=64), nullable=False),
                  sa.Column('role', sa.String(length=16), nullable=False),
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('csrf', sa.String(length=64), nullable=False),
                  sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('ip', sa.String(length=64), nullable=True),
                  sa.PrimaryKeyConstraint('token_hash')
                  )
    _create_table('deliveries',
                  sa.Column('key', sa.String(length=200), nullable=False),
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('conversation_id', sa.String(length=128), nullable=False),
                  sa.Column('intent', sa.String(length=64), nullable=False),
                  sa.Column('entities', sa.JSON(), nullable=False),
                  sa.Column('status', sa.String(length=16), nullable=False),
                  sa.Column('attempts', sa.Integer(), nullable=False),
                  sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('messages', sa.JSON(), nullable=True),
                  sa.Column('error', sa.Text(), nullable=True),
                  sa.PrimaryKeyConstraint('key')
                  )
    _create_index('ix_deliveries_status', 'deliveries', ['status'])
    _create_table('misunderstood_messages',
                  sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                  sa.Column('at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender', sa.String(length=64), nullable=False),
                  sa.Column('text', sa.Text(), nullable=False),
                  sa.Column('guessed_intent', sa.String(length=64), nullable=True),
                  sa.Column('guessed_category', sa.String(length=32), nullable=True),
                  sa.Column('confidence', sa.Float(), nullable=True),
                  sa.Column('status', sa.String(length=16), nullable=False),
                  sa.Column('label_intent', sa.String(length=64), nullable=True),
                  sa.Column('label_category', sa.String(length=32), nullable=True),
                  sa.Column('labelled_by', sa.String(length=200), nullable=True),
                  sa.Column('labelled_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('exported_at', sa.DateTime(timezone=True), nullable=True),
                  sa.PrimaryKeyConstraint('id')
                  )
    _create_index('ix_misunderstood_messages_at', 'misunderstood_messages', ['at'])
    _create_index('ix_misunderstood_status', 'misunderstood_messages', ['status', 'at'])
    _create_table('nudge_subscriptions',
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('area', sa.String(length=64), nullable=True),
                  sa.Column('times', sa.JSON(), nullable=False),
                  sa.Column('weekdays', sa.JSON(), nullable=False),
                  sa.Column('active', sa.Boolean(), nullable=False),
                  sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('version', sa.Integer(), nullable=False),
                  sa.Column('planned_version', sa.Integer(), nullable=False),
                  sa.Column('planned_times', sa.JSON(), nullable=False),
                  sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
                  sa.PrimaryKeyConstraint('channel', 'sender_id')
                  )
    _create_table('patrol_all_clears',
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('area', sa.String(length=64), nullable=False),
                  sa.Column('day', sa.String(length=10), nullable=False),
                  sa.Column('at', sa.DateTime(timezone=True), nullable=False),
                  sa.PrimaryKeyConstraint('channel', 'sender_id', 'area', 'day')
                  )
    _create_table('people',
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('role', sa.String(length=16), nullable=False),
                  sa.Column('community', sa.String(length=64), nullable=True),
                  sa.Column('building', sa.String(length=16), nullable=True),
                  sa.Column('subscribed', sa.Boolean(), nullable=False),
                  sa.Column('topics', sa.JSON(), nullable=False),
                  sa.Column('staff_communities', sa.JSON(), nullable=False),
                  sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
                  sa.PrimaryKeyConstraint('channel', 'sender_id')
                  )
    _create_index('ix_people_community', 'people', ['community'])
    _create_table('ticket_sequences',
                  sa.Column('day', sa.String(length=8), nullable=False),
                  sa.Column('last', sa.Integer(), nullable=False),
                  sa.PrimaryKeyConstraint('day')
                  )
    _create_table('tickets',
                  sa.Column('id', sa.String(length=16), nullable=False),
                  sa.Column('category', sa.String(length=32), nullable=False),
                  sa.Column('community', sa.String(length=64), nullable=True),
                  sa.Column('building', sa.String(length=16), nullable=True),
                  sa.Column('unit', sa.String(length=8), nullable=True),
                  sa.Column('room', sa.String(length=8), nullable=True),
                  sa.Column('description', sa.Text(), nullable=False),
                  sa.Column('photos', sa.JSON(), nullable=False),
                  sa.Column('latitude', sa.Float(), nullable=True),
                  sa.Column('longitude', sa.Float(), nullable=True),
                  sa.Column('phone', sa.String(length=16), nullable=True),
                  sa.Column('reporter_channel', sa.String(length=32), nullable=False),
                  sa.Column('reporter_id', sa.String(length=128), nullable=False),
                  sa.Column('source', sa.String(length=16), nullable=False),
                  sa.Column('handler_kind', sa.String(length=32), nullable=True),
                  sa.Column('handler_name', sa.String(length=64), nullable=True),
                  sa.Column('tier', sa.String(length=16), nullable=True),
                  sa.Column('deadline_class', sa.String(length=16), nullable=True),
                  sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('status', sa.String(length=16), nullable=False),
                  sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('merged_into', sa.String(length=16), nullable=True),
                  sa.ForeignKeyConstraint(['merged_into'], ['tickets.id'], ),
                  sa.PrimaryKeyConstraint('id')
                  )
    _create_index('ix_console_tickets_deadline', 'tickets', ['deadline', 'id'])
    _create_index('ix_tickets_category', 'tickets', ['category'])
    _create_index('ix_tickets_community', 'tickets', ['community'])
    _create_index('ix_tickets_created_at', 'tickets', ['created_at'])
    _create_index('ix_tickets_place', 'tickets', ['community', 'building', 'category'])
    _create_index('ix_tickets_reporter', 'tickets', ['reporter_channel', 'reporter_id', 'created_at'])
    _create_index('ix_tickets_status', 'tickets', ['status'])
    _create_index('ix_tickets_status_deadline', 'tickets', ['status', 'deadline'])
    _create_table('volunteers',
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('name', sa.String(length=64), nullable=False),
                  sa.Column('phone', sa.String(length=16), nullable=False),
                  sa.Column('platform', sa.String(length=32), nullable=True),
                  sa.Column('areas', sa.JSON(), nullable=False),
                  sa.Column('nudge_times', sa.JSON(), nullable=False),
                  sa.Column('status', sa.String(length=16), nullable=False),
                  sa.Column('told_status', sa.String(length=16), nullable=True),
                  sa.Column('consent', sa.Boolean(), nullable=False),
                  sa.Column('note', sa.Text(), nullable=True),
                  sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
                  sa.PrimaryKeyConstraint('channel', 'sender_id')
                  )
    _create_index('ix_volunteers_status', 'volunteers', ['status'])
    _create_table('broadcast_recipients',
                  sa.Column('broadcast_id', sa.Integer(), nullable=False),
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('status', sa.String(length=16), nullable=False),
                  sa.Column('reason', sa.String(length=32), nullable=True),
                  sa.Column('detail', sa.Text(), nullable=True),
                  sa.Column('attempts', sa.Integer(), nullable=False),
                  sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
                  sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], ),
                  sa.PrimaryKeyConstraint('broadcast_id', 'channel', 'sender_id')
                  )
    _create_index('ix_broadcast_recipients_status', 'broadcast_recipients', ['broadcast_id', 'status'])
    _create_table('deadline_watches',
                  sa.Column('ticket_id', sa.String(length=16), nullable=False),
                  sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('planned', sa.Boolean(), nullable=False),
                  sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
                  sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
                  sa.PrimaryKeyConstraint('ticket_id')
                  )
    _create_table('followups',
                  sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                  sa.Column('ticket_id', sa.String(length=16), nullable=False),
                  sa.Column('round', sa.Integer(), nullable=False),
                  sa.Column('status', sa.String(length=16), nullable=False),
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('asked_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
                  sa.Column('solved', sa.String(length=16), nullable=True),
                  sa.Column('satisfaction', sa.String(length=16), nullable=True),
                  sa.Column('outcome', sa.String(length=16), nullable=True),
                  sa.Column('comment', sa.Text(), nullable=True),
                  sa.Column('supervised_at', sa.DateTime(timezone=True), nullable=True),
                  sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
                  sa.PrimaryKeyConstraint('id'),
                  sa.UniqueConstraint('ticket_id', 'round', name='uq_followups_ticket_round')
                  )
    _create_index('ix_followups_closed_at', 'followups', ['closed_at'])
    _create_index('ix_followups_status', 'followups', ['status'])
    _create_index('ix_followups_ticket', 'followups', ['ticket_id'])
    _create_table('ticket_events',
                  sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                  sa.Column('ticket_id', sa.String(length=16), nullable=False),
                  sa.Column('at', sa.DateTime(timezone=True), nullable=False),
                  sa.Column('actor', sa.String(length=128), nullable=False),
                  sa.Column('action', sa.String(length=32), nullable=False),
                  sa.Column('from_status', sa.String(length=16), nullable=True),
                  sa.Column('to_status', sa.String(length=16), nullable=True),
                  sa.Column('note', sa.Text(), nullable=True),
                  sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
                  sa.PrimaryKeyConstraint('id')
                  )
    _create_index('ix_ticket_events_at', 'ticket_events', ['at'])
    _create_index('ix_ticket_events_ticket_id', 'ticket_events', ['ticket_id'])
    _create_table('ticket_followers',
                  sa.Column('ticket_id', sa.String(length=16), nullable=False),
                  sa.Column('channel', sa.String(length=32), nullable=False),
                  sa.Column('sender_id', sa.String(length=128), nullable=False),
                  sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
                  sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
                  sa.PrimaryKeyConstraint('ticket_id', 'channel', 'sender_id')
                  )
    _create_table('progress_notices',
                  sa.Column('event_id', sa.Integer(), nullable=False),
                  sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
                  sa.ForeignKeyConstraint(['event_id'], ['ticket_events.id'], ),
                  sa.PrimaryKeyConstraint('event_id')
                  )


def downgrade() -> None:
    op.drop_table('progress_notices')
    op.drop_table('ticket_followers')
    op.drop_table('ticket_events')
    op.drop_table('followups')
    op.drop_table('deadline_watches')
    op.drop_table('broadcast_recipients')
    op.drop_table('volunteers')
    op.drop_table('tickets')
    op.drop_table('ticket_sequences')
    op.drop_table('people')
    op.drop_table('patrol_all_clears')
    op.drop_table('nudge_subscriptions')
    op.drop_table('misunderstood_messages')
    op.drop_table('deliveries')
    op.drop_table('console_sessions')
    op.drop_table('console_links')
    op.drop_table('console_audit')
    op.drop_table('console_attachments')
    op.drop_table('callback_requests')
    op.drop_table('broadcasts')
