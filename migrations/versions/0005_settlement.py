"""Settlement: statements per shop and period, payouts with their bank details as sent,
the Zengin files handed to the bank, and each shop's settlement schedule.

Revision ID: 0005_settlement
Revises: 0004_campaigns
Create Date: 2026-11-23 14:00:07.745222
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_settlement"
down_revision = "0004_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payout_files",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("transfer_date", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_files")),
    )
    op.create_table(
        "merchant_settlements",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("schedule", sa.String(length=8), nullable=False),
        sa.Column("closing_date", sa.Date(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("gross_sales", sa.BigInteger(), nullable=False),
        sa.Column("refund_count", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.Column("campaign_cashback", sa.BigInteger(), nullable=False),
        sa.Column("adjustments", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("net_payout", sa.BigInteger(), nullable=False),
        sa.Column("campaign_funded", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('settled', 'carried_forward')", name=op.f("ck_merchant_settlements_status")
        ),
        sa.CheckConstraint(
            "fees >= 0 AND net_payout >= 0", name=op.f("ck_merchant_settlements_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_settlements_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_settlements")),
        sa.UniqueConstraint(
            "merchant_id", "closing_date", name=op.f("uq_merchant_settlements_merchant_id")
        ),
    )
    with op.batch_alter_table("merchant_settlements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_merchant_settlements_merchant_id", ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "merchant_payouts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("settlement_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("account_type", sa.String(length=8), nullable=False),
        sa.Column("account_number", sa.String(length=7), nullable=False),
        sa.Column("account_name_kana", sa.String(length=60), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("result_entry_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'paid', 'failed')",
            name=op.f("ck_merchant_payouts_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_merchant_payouts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["file_id"], ["payout_files.id"], name=op.f("fk_merchant_payouts_file_id_payout_files")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_payouts_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["merchant_settlements.id"],
            name=op.f("fk_merchant_payouts_settlement_id_merchant_settlements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_payouts")),
        sa.UniqueConstraint("settlement_id", name=op.f("uq_merchant_payouts_settlement_id")),
    )
    with op.batch_alter_table("merchant_payouts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_merchant_payouts_merchant_id", ["merchant_id", "id"], unique=False
        )
        batch_op.create_index("ix_merchant_payouts_status", ["status", "id"], unique=False)

    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settlement_schedule", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("settlement_schedule")

    with op.batch_alter_table("merchant_payouts", schema=None) as batch_op:
        batch_op.drop_index("ix_merchant_payouts_status")
        batch_op.drop_index("ix_merchant_payouts_merchant_id")

    op.drop_table("merchant_payouts")
    with op.batch_alter_table("merchant_settlements", schema=None) as batch_op:
        batch_op.drop_index("ix_merchant_settlements_merchant_id")

    op.drop_table("merchant_settlements")
    op.drop_table("payout_files")
