"""fleet analytics: pass rates in the tallies, test runs' calls kept out of the rollups

A call's tally gains its evaluations (counted from ``metric_results``), and
``call_tallies.test_run`` marks the tallies of test runs' calls (``metadata.test_run``),
which are never merged into the rollups. Calls that already have final metric results,
and tallied calls whose metadata names a test run, are queued, so the keepers count their
results and take the test runs out of the rollups in the background.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00.000000
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_tallies") as batch_op:
        batch_op.add_column(
            sa.Column("test_run", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index(
        "ix_call_tallies_test_runs",
        "call_tallies",
        ["start_time"],
        sqlite_where=sa.text("test_run = 1"),
        postgresql_where=sa.text("test_run"),
    )
    _queue_calls_to_retally()


def _queue_calls_to_retally() -> None:
    results = sa.table("metric_results", sa.column("call_id", sa.String), sa.column("final"))
    tallies = sa.table("call_tallies", sa.column("call_id", sa.String), sa.column("metadata"))
    if op.get_bind().dialect.name == "postgresql":
        names_a_test_run = sa.text("call_tallies.metadata -> 'test_run' IS NOT NULL")
    else:
        names_a_test_run = sa.text("json_extract(call_tallies.metadata, '$.test_run') IS NOT NULL")
    call_ids = sa.union(
        sa.select(results.c.call_id).where(results.c.final.is_(True)),
        sa.select(tallies.c.call_id).where(names_a_test_run),
    ).subquery()
    queue = sa.table("analytics_queue", sa.column("id"), sa.column("call_id"), sa.column("due_at"))
    long_due = sa.literal(datetime(2000, 1, 1, tzinfo=UTC), sa.DateTime(timezone=True))
    # "atq_" + the call id is 0010's (its rows may still be queued): these differ
    queued = sa.select(
        sa.literal("atq_0012_", sa.String) + call_ids.c.call_id, call_ids.c.call_id, long_due
    )
    op.execute(queue.insert().from_select(["id", "call_id", "due_at"], queued))


def downgrade() -> None:
    op.drop_index("ix_call_tallies_test_runs", table_name="call_tallies")
    with op.batch_alter_table("call_tallies") as batch_op:
        batch_op.drop_column("test_run")
