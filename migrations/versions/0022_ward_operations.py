"""Ward operations (issue 21, finished): what a benefit's report published (its
differencing guard) and the help desk's daily cash-up.

- ``analytics_benefit_report_cells``: per benefit, cell (district or "*") and measure, the
  population last published (residents and their figures), shared by every viewer.

Revision ID: 0022_ward_operations
Revises: 0021_shop_directory
Create Date: 2026-12-02 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022_ward_operations"
down_revision = "0021_shop_directory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_benefit_report_cells",
        sa.Column("benefit_id", sa.BigInteger(), nullable=False),
        sa.Column("cell", sa.String(length=40), nullable=False),
        sa.Column("measure", sa.String(length=8), nullable=False),
        sa.Column("members", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("figures", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "benefit_id", "cell", "measure", name=op.f("pk_analytics_benefit_report_cells")
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_benefit_report_cells")
