"""alerts: rules with their state, transitions and sampled values; webhook formats

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
_ID = sa.String(length=64)
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch_op:
        batch_op.add_column(
            sa.Column("format", sa.String(length=16), nullable=False, server_default="json")
        )
    op.create_table(
        "alert_rules",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", _JSON, nullable=False),
        sa.Column("targets", _JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_since", _AT, nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("fired_at", _AT, nullable=True),
        sa.Column("transitions", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=True),
        sa.Column("detail", _JSON, nullable=True),
        sa.Column("evaluated_at", _AT, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "alert_transitions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("rule_id", _ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("at", _AT, nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("example_call_ids", _JSON, nullable=False),
        sa.Column("detail", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "seq", name="uq_alert_transitions_rule_seq"),
    )
    op.create_index("ix_alert_transitions_rule_id_id", "alert_transitions", ["rule_id", "id"])
    op.create_table(
        "alert_samples",
        sa.Column("rule_id", _ID, nullable=False),
        sa.Column("at", _AT, nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "at"),
    )
    op.create_index("ix_alert_samples_at", "alert_samples", ["at"])


def downgrade() -> None:
    op.drop_index("ix_alert_samples_at", table_name="alert_samples")
    op.drop_table("alert_samples")
    op.drop_index("ix_alert_transitions_rule_id_id", table_name="alert_transitions")
    op.drop_table("alert_transitions")
    op.drop_table("alert_rules")
    with op.batch_alter_table("webhooks") as batch_op:
        batch_op.drop_column("format")
