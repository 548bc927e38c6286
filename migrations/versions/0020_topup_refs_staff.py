"""Top-up references and shop staff (issue 21, items 4 and 5).

- ``wallet_funding_references``: each wallet's own virtual bank account number (振込専用口座)
  and convenience-store payment number, allocated once and kept, so the funding webhook
  can name a wallet by either.
- ``merchant_staff``: the staff logins a shop's owner added, each with its own refund limit
  (NULL: the platform's default), and when and by whom it was removed.
- ``payments.taken_by`` and ``merchant_charges.created_by``: the shop's user who took a
  payment at the till (a captured code, a charge they showed); NULL for the sticker.

Revision ID: 0020_topup_refs_staff
Revises: 0016_sql_in_files
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_topup_refs_staff"
down_revision = "0016_sql_in_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_funding_references",
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("virtual_account", sa.String(length=7), nullable=False),
        sa.Column("konbini_number", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.user_id"],
            name=op.f("fk_wallet_funding_references_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_wallet_funding_references")),
        sa.UniqueConstraint(
            "virtual_account", name=op.f("uq_wallet_funding_references_virtual_account")
        ),
        sa.UniqueConstraint(
            "konbini_number", name=op.f("uq_wallet_funding_references_konbini_number")
        ),
    )
    op.create_table(
        "merchant_staff",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("refund_limit", sa.BigInteger(), nullable=True),
        sa.Column("added_by", sa.BigInteger(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_by", sa.BigInteger(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_merchant_staff_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_merchant_staff_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_merchant_staff")),
        sa.CheckConstraint(
            "refund_limit IS NULL OR refund_limit >= 0",
            name=op.f("ck_merchant_staff_refund_limit_not_negative"),
        ),
    )
    op.create_index("ix_merchant_staff_merchant", "merchant_staff", ["merchant_id"], unique=False)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("taken_by", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("merchant_charges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("merchant_charges", schema=None) as batch_op:
        batch_op.drop_column("created_by")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("taken_by")
    op.drop_index("ix_merchant_staff_merchant", table_name="merchant_staff")
    op.drop_table("merchant_staff")
    op.drop_table("wallet_funding_references")
