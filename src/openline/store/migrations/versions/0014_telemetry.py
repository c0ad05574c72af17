"""telemetry: a call's trace ids; the agent metrics exported to Prometheus

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:40:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(sa.Column("trace_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("trace_span_id", sa.String(length=16), nullable=True))
    with op.batch_alter_table("agents") as batch_op:
        batch_op.add_column(sa.Column("prometheus_metrics", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("prometheus_metrics")
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_column("trace_span_id")
        batch_op.drop_column("trace_id")
