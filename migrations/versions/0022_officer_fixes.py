"""What officers were exposed to (issue 22 item 5): a shop's suspension carries its reason,
and a campaign can be withdrawn (取り下げ) instead of lingering as a draft.

- ``merchants.suspension_reason`` / ``suspended_by`` / ``suspended_at``: why an officer
  suspended the shop, by whom and when (the latest suspension; kept after reinstatement);
  the shop reads the reason on its dashboard while it is suspended.
- ``campaigns.status`` may be ``withdrawn``; ``withdrawn_by`` / ``withdrawn_at`` record who
  withdrew it and when (a state change, never a delete: the audit trail keeps the rest).

Revision ID: 0022_officer_fixes
Revises: 0022_ward_operations
Create Date: 2026-12-02 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_officer_fixes"
down_revision = "0022_ward_operations"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('draft', 'submitted', 'approved', 'ended', 'closed')"
NEW_STATUSES = "status IN ('draft', 'submitted', 'approved', 'ended', 'closed', 'withdrawn')"


def upgrade() -> None:
    op.add_column("merchants", sa.Column("suspension_reason", sa.String(length=500), nullable=True))
    op.add_column("merchants", sa.Column("suspended_by", sa.BigInteger(), nullable=True))
    op.add_column("merchants", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("withdrawn_by", sa.BigInteger(), nullable=True))
    op.add_column("campaigns", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_campaigns_status"), "campaigns", type_="check")
    op.create_check_constraint(op.f("ck_campaigns_status"), "campaigns", NEW_STATUSES)


def downgrade() -> None:
    op.execute("UPDATE campaigns SET status = 'draft' WHERE status = 'withdrawn'")
    op.drop_constraint(op.f("ck_campaigns_status"), "campaigns", type_="check")
    op.create_check_constraint(op.f("ck_campaigns_status"), "campaigns", OLD_STATUSES)
    op.drop_column("campaigns", "withdrawn_at")
    op.drop_column("campaigns", "withdrawn_by")
    op.drop_column("merchants", "suspended_at")
    op.drop_column("merchants", "suspended_by")
    op.drop_column("merchants", "suspension_reason")
