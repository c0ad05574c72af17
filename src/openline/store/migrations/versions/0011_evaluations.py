"""evaluations: metrics, their agents and their results per call; the deploy gate

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 21:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
_ID = sa.String(length=64)
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.add_column(
            sa.Column("hold", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("test_run", _JSON, nullable=True))
    op.create_table(
        "eval_metrics",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("rule", _JSON, nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "agent_metrics",
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("metric_id", _ID, nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "metric_id"),
    )
    op.create_index("ix_agent_metrics_metric_id", "agent_metrics", ["metric_id"])
    op.create_table(
        "metric_results",
        sa.Column("id", _ID, nullable=False),
        sa.Column("call_id", _ID, nullable=False),
        sa.Column("metric_id", _ID, nullable=False),
        sa.Column("metric_name", sa.String(length=200), nullable=False),
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("deployment_id", _ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("value", _JSON, nullable=True),
        sa.Column("json_result", _JSON, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_until", _AT, nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id", "metric_id", name="uq_metric_results_call_metric"),
    )
    for name, columns in (
        ("ix_metric_results_agent_id_id", ["agent_id", "id"]),
        ("ix_metric_results_metric_id_id", ["metric_id", "id"]),
        ("ix_metric_results_deployment_id_id", ["deployment_id", "id"]),
    ):
        op.create_index(name, "metric_results", columns)


def downgrade() -> None:
    op.drop_table("metric_results")
    op.drop_table("agent_metrics")
    op.drop_table("eval_metrics")
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.drop_column("test_run")
        batch_op.drop_column("hold")
