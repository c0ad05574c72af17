"""fleet analytics: the tally queue, a tally per ended call, minute/hour/day rollups

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:00:00.000000

Calls that ended before this revision are queued, so the keepers tally them in the
background after the upgrade.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "analytics_queue",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_queue_due_at", "analytics_queue", ["due_at"])
    _queue_ended_calls()
    op.create_table(
        "call_tallies",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata", _JSON, nullable=True),
        sa.Column("tally", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("call_id"),
    )
    op.create_index(
        "ix_call_tallies_scope", "call_tallies", ["agent_id", "deployment_id", "start_time"]
    )
    op.create_index("ix_call_tallies_start_time", "call_tallies", ["start_time"])
    op.create_table(
        "analytics_rollups",
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("tally", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("grain", "bucket_start", "agent_id", "deployment_id"),
    )


def _queue_ended_calls() -> None:
    calls = sa.table(
        "calls",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("redacted_at", sa.DateTime(timezone=True)),
    )
    queue = sa.table("analytics_queue", sa.column("id"), sa.column("call_id"), sa.column("due_at"))
    long_due = sa.literal(datetime(2000, 1, 1, tzinfo=UTC), sa.DateTime(timezone=True))
    ended = sa.select(sa.literal("atq_", sa.String) + calls.c.id, calls.c.id, long_due).where(
        calls.c.status != "started", calls.c.redacted_at.is_(None)
    )
    op.execute(queue.insert().from_select(["id", "call_id", "due_at"], ended))


def downgrade() -> None:
    op.drop_table("analytics_rollups")
    op.drop_table("call_tallies")
    op.drop_table("analytics_queue")
