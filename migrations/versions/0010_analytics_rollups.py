"""Analytics rollups: the common query shapes pre-aggregated per month, filled from the facts.

Revision ID: 0010_analytics_rollups
Revises: 0009_dp_budget_campaign
Create Date: 2026-11-23 16:32:43.519666
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The shapes as they were at this revision (analytics/rollups.py SHAPES), with fact columns.
SHAPES: dict[str, tuple[str, ...]] = {
    "ward": (),
    "street": ("shopping_street_id",),
    "district": ("district_id",),
    "category": ("category",),
    "store_type": ("store_type",),
    "age_band": ("age_band",),
    "campaign": ("campaign_id",),
    "street_category": ("shopping_street_id", "category"),
    "street_age_band": ("shopping_street_id", "age_band"),
    "weekday_hour": ("weekday", "hour"),
    "district_weekday_hour": ("district_id", "weekday", "hour"),
}


def _cell(columns: tuple[str, ...]) -> str:
    if not columns:
        return "''"
    return " || '|' || ".join(f"COALESCE(CAST({c} AS TEXT), '~')" for c in columns)


def _fill() -> None:
    """Facts stored before this revision go into every shape."""
    for shape, columns in SHAPES.items():
        cell = _cell(columns)
        # PostgreSQL refuses a constant in GROUP BY: the whole ward groups by month alone.
        by = f"month, {cell}" if columns else "month"
        op.execute(
            "INSERT INTO analytics_rollup_cells"
            " (shape, month, cell, payments, spend, points_used, rewards, residents)"
            f" SELECT '{shape}', month, {cell},"
            " SUM(CASE WHEN kind = 'payment' THEN 1 ELSE 0 END), SUM(amount),"
            " SUM(points_used), SUM(reward), COUNT(DISTINCT resident_key)"
            f" FROM analytics_facts GROUP BY {by}"
        )
        op.execute(
            "INSERT INTO analytics_rollup_members (shape, month, cell, resident_key)"
            f" SELECT DISTINCT '{shape}', month, {cell}, resident_key FROM analytics_facts"
        )
        op.execute(
            "INSERT INTO analytics_rollup_shops (shape, month, cell, merchant_key, spend)"
            f" SELECT '{shape}', month, {cell}, merchant_key, SUM(amount)"
            f" FROM analytics_facts GROUP BY {by}, merchant_key"
        )
        # Shop spend over all months ("*"), for queries across every month.
        every = f"{cell}, merchant_key" if columns else "merchant_key"
        op.execute(
            "INSERT INTO analytics_rollup_shops (shape, month, cell, merchant_key, spend)"
            f" SELECT '{shape}', '*', {cell}, merchant_key, SUM(amount)"
            f" FROM analytics_facts GROUP BY {every}"
        )


revision = "0010_analytics_rollups"
down_revision = "0009_dp_budget_campaign"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_rollup_cells",
        sa.Column("shape", sa.String(length=24), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("cell", sa.String(length=120), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("spend", sa.BigInteger(), nullable=False),
        sa.Column("points_used", sa.BigInteger(), nullable=False),
        sa.Column("rewards", sa.BigInteger(), nullable=False),
        sa.Column("residents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shape", "month", "cell", name=op.f("pk_analytics_rollup_cells")),
    )
    op.create_table(
        "analytics_rollup_members",
        sa.Column("shape", sa.String(length=24), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("cell", sa.String(length=120), nullable=False),
        sa.Column("resident_key", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(
            "shape", "month", "cell", "resident_key", name=op.f("pk_analytics_rollup_members")
        ),
    )
    op.create_table(
        "analytics_rollup_shops",
        sa.Column("shape", sa.String(length=24), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("cell", sa.String(length=120), nullable=False),
        sa.Column("merchant_key", sa.String(length=32), nullable=False),
        sa.Column("spend", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "shape", "month", "cell", "merchant_key", name=op.f("pk_analytics_rollup_shops")
        ),
    )
    _fill()


def downgrade() -> None:
    op.drop_table("analytics_rollup_shops")
    op.drop_table("analytics_rollup_members")
    op.drop_table("analytics_rollup_cells")
