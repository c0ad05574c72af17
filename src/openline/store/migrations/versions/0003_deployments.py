"""deployments, their logs, and agent environment variables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:43:37.453425
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_env_vars",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "name"),
    )
    op.create_table(
        "deployment_logs",
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stream", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("deployment_id", "seq"),
    )
    with op.batch_alter_table("deployment_logs", schema=None) as batch_op:
        batch_op.create_index("ix_deployment_logs_at", ["at"], unique=False)
        batch_op.create_index("ix_deployment_logs_call_id", ["call_id"], unique=False)

    op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_live", sa.Boolean(), nullable=False),
        sa.Column("is_pinned", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("build_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("build_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("build_logs", sa.Text(), nullable=True),
        sa.Column("build_error", sa.Text(), nullable=True),
        sa.Column("deployment_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deployment_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deployment_error", sa.Text(), nullable=True),
        sa.Column("git_commit_hash", sa.String(length=64), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("source_bytes", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index("ix_deployments_agent_id_id", ["agent_id", "id"], unique=False)
        batch_op.create_index(
            "ux_deployments_live_agent",
            ["agent_id"],
            unique=True,
            sqlite_where=sa.text("is_live"),
            postgresql_where=sa.text("is_live"),
        )


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index("ux_deployments_live_agent")
        batch_op.drop_index("ix_deployments_agent_id_id")

    op.drop_table("deployments")
    with op.batch_alter_table("deployment_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_logs_call_id")
        batch_op.drop_index("ix_deployment_logs_at")

    op.drop_table("deployment_logs")
    op.drop_table("agent_env_vars")
