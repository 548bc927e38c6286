"""Refund lines name their shop (issue 22 item 4, "What residents were misled by").

A refund's line in a resident's history now names the shop (``counterparty``), as the
payment's line does; earlier refund lines had none. This fills them in from the refund's
payment. No schema change: the points a refund took back are read from the line itself
(``wallet_api.history.reward_points_revoked``).

Revision ID: 0022_resident_fixes
Revises: 0022_officer_fixes
Create Date: 2026-12-02 23:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0022_resident_fixes"
down_revision = "0022_officer_fixes"
branch_labels = None
depends_on = None


NAME_REFUND_LINES_SHOPS = """
    UPDATE wallet_transactions AS line
       SET counterparty = left(shop.name, 80)
      FROM refunds, payments, merchants AS shop
     WHERE line.kind = 'refund'
       AND line.counterparty IS NULL
       AND refunds.reference = line.reference
       AND payments.id = refunds.payment_id
       AND shop.id = payments.merchant_id
"""


def upgrade() -> None:
    op.execute(NAME_REFUND_LINES_SHOPS)


def downgrade() -> None:
    # The names are true either way; an older release simply does not show them.
    pass
