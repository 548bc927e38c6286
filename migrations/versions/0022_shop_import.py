"""Shops imported from the ward's recruitment list (issue 22 item 3).

- ``merchants.import_ref``: the ward's own reference of the shop in its recruitment list
  (受付番号), unique: importing the same file twice creates no second shop.
- ``merchants.imported_by``: the officer whose import created the shop (one person's act:
  the shop still needs the two approvals every shop needs).

Revision ID: 0022_shop_import
Revises: 0022_resident_fixes
Create Date: 2026-12-02 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_shop_import"
down_revision = "0022_resident_fixes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("merchants", sa.Column("import_ref", sa.String(length=32), nullable=True))
    op.add_column("merchants", sa.Column("imported_by", sa.BigInteger(), nullable=True))
    op.create_unique_constraint(op.f("uq_merchants_import_ref"), "merchants", ["import_ref"])


def downgrade() -> None:
    op.drop_constraint(op.f("uq_merchants_import_ref"), "merchants", type_="unique")
    op.drop_column("merchants", "imported_by")
    op.drop_column("merchants", "import_ref")
