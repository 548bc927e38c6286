"""Analytics: each analyst's monthly privacy budget (DP mode) and the campaign dimension.

Facts from before this revision have no campaign (it was not in the outbox events).

Revision ID: 0009_dp_budget_campaign
Revises: 0008_ward_notices
Create Date: 2026-11-23 16:27:43.946671
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_dp_budget_campaign"
down_revision = "0008_ward_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_privacy_budgets",
        sa.Column("analyst_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("epsilon_spent", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("analyst_id", "period", name=op.f("pk_analytics_privacy_budgets")),
    )
    with op.batch_alter_table("analytics_facts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analytics_facts", schema=None) as batch_op:
        batch_op.drop_column("campaign_id")

    op.drop_table("analytics_privacy_budgets")
