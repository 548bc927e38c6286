"""Analytics: the privacy budget belongs to the data (per data month, all analysts), not to
an analyst's calendar month.

ε already spent cannot be traced to the months each query read (before this revision a
query without a month filter read all of them), so every month that holds facts starts
with everything ever spent: the safe side. The per-analyst table goes.

Revision ID: 0014_dp_data_budget
Revises: 0013_analytics_guard
Create Date: 2026-12-02 08:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_dp_data_budget"
down_revision = "0013_analytics_guard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_dp_month_budgets",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("epsilon_spent", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_analytics_dp_month_budgets")),
    )
    op.execute(
        "INSERT INTO analytics_dp_month_budgets (month, epsilon_spent)"
        " SELECT DISTINCT month,"
        " (SELECT SUM(epsilon_spent) FROM analytics_privacy_budgets)"
        " FROM analytics_facts"
        " WHERE EXISTS (SELECT 1 FROM analytics_privacy_budgets)"
    )
    op.drop_table("analytics_privacy_budgets")


def downgrade() -> None:
    op.create_table(
        "analytics_privacy_budgets",
        sa.Column("analyst_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("epsilon_spent", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("analyst_id", "period", name=op.f("pk_analytics_privacy_budgets")),
    )
    op.drop_table("analytics_dp_month_budgets")
