"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:54:36.118414
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=True),
        sa.Column("introduction", sa.Text(), nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("self_hosted_deployment_url", sa.Text(), nullable=True),
        sa.Column("webhook_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "call_logs",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("logger", sa.String(length=200), nullable=True),
        sa.Column("exc_text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", "seq"),
    )
    with op.batch_alter_table("call_logs", schema=None) as batch_op:
        batch_op.create_index("ix_call_logs_call_rev", ["call_id", "rev"], unique=False)

    op.create_table(
        "call_signals",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.PrimaryKeyConstraint("call_id", "seq"),
    )
    with op.batch_alter_table("call_signals", schema=None) as batch_op:
        batch_op.create_index("ix_call_signals_call_rev", ["call_id", "rev"], unique=False)

    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("agent_name", sa.String(length=200), nullable=True),
        sa.Column("deployment_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("agent_end_reason", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("telephony_params", JSON, nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_agent_id_id", ["agent_id", "id"], unique=False)
        batch_op.create_index("ix_calls_start_time", ["start_time"], unique=False)
        batch_op.create_index("ix_calls_status_id", ["status", "id"], unique=False)

    op.create_table(
        "log_events",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", "seq"),
    )
    with op.batch_alter_table("log_events", schema=None) as batch_op:
        batch_op.create_index("ix_log_events_call_rev", ["call_id", "rev"], unique=False)
        batch_op.create_index("ix_log_events_event", ["event"], unique=False)

    op.create_table(
        "log_metrics",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", JSON, nullable=True),
        sa.PrimaryKeyConstraint("call_id", "seq"),
    )
    with op.batch_alter_table("log_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_log_metrics_call_rev", ["call_id", "rev"], unique=False)
        batch_op.create_index("ix_log_metrics_name", ["name"], unique=False)

    op.create_table(
        "tool_calls",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("arguments", JSON, nullable=True),
        sa.Column("tool_call_id", sa.String(length=200), nullable=True),
        sa.Column("turn_seq", sa.Integer(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("result_timestamp", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", "seq"),
    )
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.create_index("ix_tool_calls_call_rev", ["call_id", "rev"], unique=False)

    op.create_table(
        "turns",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("end_timestamp", sa.Float(), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("interruptible", sa.Boolean(), nullable=True),
        sa.Column("text_chunks", JSON, nullable=True),
        sa.Column("tts_ttfb", sa.Float(), nullable=True),
        sa.Column("stt_ttfb", sa.Float(), nullable=True),
        sa.Column("vad_buffer_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", "seq"),
    )
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.create_index("ix_turns_call_rev", ["call_id", "rev"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_index("ix_turns_call_rev")

    op.drop_table("turns")
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_tool_calls_call_rev")

    op.drop_table("tool_calls")
    with op.batch_alter_table("log_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_log_metrics_name")
        batch_op.drop_index("ix_log_metrics_call_rev")

    op.drop_table("log_metrics")
    with op.batch_alter_table("log_events", schema=None) as batch_op:
        batch_op.drop_index("ix_log_events_event")
        batch_op.drop_index("ix_log_events_call_rev")

    op.drop_table("log_events")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_status_id")
        batch_op.drop_index("ix_calls_start_time")
        batch_op.drop_index("ix_calls_agent_id_id")

    op.drop_table("calls")
    with op.batch_alter_table("call_signals", schema=None) as batch_op:
        batch_op.drop_index("ix_call_signals_call_rev")

    op.drop_table("call_signals")
    with op.batch_alter_table("call_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_call_logs_call_rev")

    op.drop_table("call_logs")
    op.drop_table("api_keys")
    op.drop_table("agents")
