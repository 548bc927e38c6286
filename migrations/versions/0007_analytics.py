"""Analytics: pseudonymised facts, the query log, and the outbox's processed mark.

Outbox rows written before this revision are unprocessed, so the consumer's first runs
turn the whole history into facts (in batches).

Revision ID: 0007_analytics
Revises: 0006_reserve_one_shard
Create Date: 2026-11-23 15:06:58.488840
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_analytics"
down_revision = "0006_reserve_one_shard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_facts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("resident_key", sa.String(length=32), nullable=False),
        sa.Column("merchant_key", sa.String(length=32), nullable=False),
        sa.Column("age_band", sa.String(length=5), nullable=False),
        sa.Column("district_id", sa.String(length=32), nullable=False),
        sa.Column("shopping_street_id", sa.BigInteger(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("store_type", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("points_used", sa.BigInteger(), nullable=False),
        sa.Column("reward", sa.BigInteger(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_facts")),
        sa.UniqueConstraint("source_id", name=op.f("uq_analytics_facts_source_id")),
    )
    with op.batch_alter_table("analytics_facts", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_facts_local_date", ["local_date"], unique=False)
        batch_op.create_index(
            "ix_analytics_facts_month_street", ["month", "shopping_street_id"], unique=False
        )

    op.create_table(
        "analytics_query_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("analyst_id", sa.BigInteger(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("cells", sa.BigInteger(), nullable=False),
        sa.Column("suppressed", sa.BigInteger(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_query_log")),
    )
    with op.batch_alter_table("analytics_query_log", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_query_log_analyst", ["analyst_id", "id"], unique=False)

    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_outbox_events_unprocessed",
            ["id"],
            unique=False,
            postgresql_where=sa.text("processed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_events_unprocessed",
            postgresql_where=sa.text("processed_at IS NULL"),
        )
        batch_op.drop_column("processed_at")

    with op.batch_alter_table("analytics_query_log", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_query_log_analyst")

    op.drop_table("analytics_query_log")
    with op.batch_alter_table("analytics_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_facts_month_street")
        batch_op.drop_index("ix_analytics_facts_local_date")

    op.drop_table("analytics_facts")
