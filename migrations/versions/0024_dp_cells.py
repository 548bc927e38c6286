"""DP mode's cells (analytics/dp_cells.py): the facts pre-summed per pseudonym, month, age
band, district, and street and store type or week, each amount clamped to ±amount_cap
before its sum, and the cap they were built with. Filled from the facts stored so far with the setting's
default cap (¥20,000); a deployment with another cap reads the facts in DP mode until
``machipay rebuild-dp-cells`` has rebuilt the table with its own.

Revision ID: 0024_dp_cells
Revises: 0022_demo_story
Create Date: 2026-12-03 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_dp_cells"
down_revision = "0022_demo_story"
branch_labels = None
depends_on = None

DEFAULT_AMOUNT_CAP = 20_000


def upgrade() -> None:
    op.create_table(
        "analytics_dp_cells",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("resident_key", sa.String(length=32), nullable=False),
        sa.Column("age_band", sa.String(length=5), nullable=False),
        sa.Column("district_id", sa.String(length=32), nullable=False),
        sa.Column("shopping_street_id", sa.BigInteger(), nullable=False),
        sa.Column("store_type", sa.String(length=8), nullable=False),
        sa.Column("facts", sa.Integer(), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("points_used", sa.BigInteger(), nullable=False),
        sa.Column("reward", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "week",
            "resident_key",
            "age_band",
            "district_id",
            "shopping_street_id",
            "store_type",
            name=op.f("pk_analytics_dp_cells"),
        ),
    )
    op.create_table(
        "analytics_dp_cells_cap",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("amount_cap", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_analytics_dp_cells_cap_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_dp_cells_cap")),
    )
    op.execute(
        f"INSERT INTO analytics_dp_cells_cap (id, amount_cap) VALUES (1, {DEFAULT_AMOUNT_CAP})"
    )
    # One pass over every fact stored so far: minutes on a large history, not a request.
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("SET LOCAL work_mem = '256MB'")
    op.execute(
        "INSERT INTO analytics_dp_cells (month, week, resident_key, age_band, district_id,"
        " shopping_street_id, store_type, facts, payments, amount, points_used, reward)"
        " SELECT f.month, CASE GROUPING(f.week) WHEN 0 THEN f.week ELSE '' END,"
        " f.resident_key, f.age_band, f.district_id,"
        " CASE GROUPING(f.week) WHEN 0 THEN -1 ELSE COALESCE(f.shopping_street_id, 0) END,"
        " CASE GROUPING(f.week) WHEN 0 THEN '' ELSE f.store_type END,"
        " COUNT(*), COUNT(*) FILTER (WHERE f.kind = 'payment'),"
        " SUM(GREATEST(LEAST(f.amount, c.amount_cap), -c.amount_cap)),"
        " SUM(GREATEST(LEAST(f.points_used, c.amount_cap), -c.amount_cap)),"
        " SUM(GREATEST(LEAST(f.reward, c.amount_cap), -c.amount_cap))"
        " FROM analytics_facts AS f CROSS JOIN analytics_dp_cells_cap AS c"
        " GROUP BY f.month, f.resident_key, f.age_band, f.district_id, GROUPING SETS"
        " ((COALESCE(f.shopping_street_id, 0), f.store_type), (f.week))"
        " ORDER BY 1, 2, 3, 4, 5, 6, 7"
    )


def downgrade() -> None:
    op.drop_table("analytics_dp_cells_cap")
    op.drop_table("analytics_dp_cells")
