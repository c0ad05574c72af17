"""turns: an answer's latency and its parts (domain.latency)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:10:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch_op:
        batch_op.add_column(sa.Column("latency", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("latency_parts", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch_op:
        batch_op.drop_column("latency_parts")
        batch_op.drop_column("latency")
