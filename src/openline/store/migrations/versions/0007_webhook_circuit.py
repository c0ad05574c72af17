"""webhook endpoints pause and probe (a circuit) instead of being disabled after a streak

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retry_step", sa.Integer(), nullable=False, server_default="0")
        )
        # Claims look up due rows per endpoint, so a paused endpoint's backlog is skipped
        # by the index instead of being read on every claim.
        batch_op.drop_index("ix_webhook_deliveries_due")
        batch_op.create_index(
            "ix_webhook_deliveries_due", ["status", "webhook_id", "next_attempt_at"]
        )
    # Attempts made so far count against each pending delivery's schedule from the start.
    op.execute("UPDATE webhook_deliveries SET retry_step = attempts WHERE status = 'pending'")


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_due")
        batch_op.create_index("ix_webhook_deliveries_due", ["status", "next_attempt_at"])
        batch_op.drop_column("retry_step")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("paused_until")
        batch_op.drop_column("failing_since")
