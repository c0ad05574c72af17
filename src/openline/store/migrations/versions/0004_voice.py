"""agents' voice settings: recording switch, speech providers, voice and language

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:12:05.218734
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recording_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("stt_provider", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("tts_provider", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("tts_voice", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("tts_language", sa.String(length=35), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("tts_language")
        batch_op.drop_column("tts_voice")
        batch_op.drop_column("tts_provider")
        batch_op.drop_column("stt_provider")
        batch_op.drop_column("recording_enabled")
