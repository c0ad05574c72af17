"""fleet analytics: the tally queue, a tally per ended call, minute/hour/day rollups

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:00:00.000000

Calls that ended before this revision have no tally: ``openline analytics rebuild``
makes them (docs/analytics.md).
"""

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


def downgrade() -> None:
    op.drop_table("analytics_rollups")
    op.drop_table("call_tallies")
    op.drop_table("analytics_queue")
