"""Shopping streets and shop categories (seeded from the ward file), merchants, charges,
payments, points-lot uses, refunds and the transactional outbox.

Revision ID: 0003_merchants_payments
Revises: 0002_identity_wallet
Create Date: 2026-11-23 09:13:42.310053
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ward.data import ward_reference

revision = "0003_merchants_payments"
down_revision = "0002_identity_wallet"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_table(
        "ward_merchant_categories",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("mcc", sa.String(length=4), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ward_merchant_categories")),
    )
    op.create_table(
        "ward_shopping_streets",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("district_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["ward_districts.id"],
            name=op.f("fk_ward_shopping_streets_district_id_ward_districts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ward_shopping_streets")),
        sa.UniqueConstraint("name", name=op.f("uq_ward_shopping_streets_name")),
    )
    ward = ward_reference()
    op.bulk_insert(
        sa.table(
            "ward_merchant_categories",
            sa.column("code", sa.String),
            sa.column("name", sa.String),
            sa.column("name_en", sa.String),
            sa.column("mcc", sa.String),
        ),
        [
            {k: c[k] for k in ("code", "name", "name_en", "mcc")}
            for c in ward["merchant_categories"]
        ],
    )
    op.bulk_insert(
        sa.table(
            "ward_shopping_streets",
            sa.column("name", sa.String),
            sa.column("name_en", sa.String),
            sa.column("district_id", sa.String),
        ),
        [
            {"name": s["name"], "name_en": s["name_en"], "district_id": s["district"]}
            for s in ward["shopping_streets"]
        ],
    )
    op.create_table(
        "merchants",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("name_kana", sa.String(length=80), nullable=False),
        sa.Column("name_latin", sa.String(length=25), nullable=False),
        sa.Column("category_code", sa.String(length=32), nullable=False),
        sa.Column("store_type", sa.String(length=8), nullable=False),
        sa.Column("shopping_street_id", sa.BigInteger(), nullable=True),
        sa.Column("postal_code", sa.String(length=7), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("account_type", sa.String(length=8), nullable=False),
        sa.Column("account_number", sa.String(length=7), nullable=False),
        sa.Column("account_name_kana", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["ward_merchant_categories.code"],
            name=op.f("fk_merchants_category_code_ward_merchant_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["shopping_street_id"],
            ["ward_shopping_streets.id"],
            name=op.f("fk_merchants_shopping_street_id_ward_shopping_streets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
        sa.UniqueConstraint("public_id", name=op.f("uq_merchants_public_id")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("points_used", sa.BigInteger(), nullable=False),
        sa.Column("money_used", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("charge_id", sa.BigInteger(), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("resident_reward", sa.BigInteger(), nullable=False),
        sa.Column("merchant_cashback", sa.BigInteger(), nullable=False),
        sa.Column("rewards_granted", sa.Boolean(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded_points", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.user_id"], name=op.f("fk_payments_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("reference", name=op.f("uq_payments_reference")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payments_merchant_created", ["merchant_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_payments_resident_created", ["resident_id", "created_at"], unique=False
        )

    op.create_table(
        "merchant_charges",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=25), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_charges_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_charges")),
        sa.UniqueConstraint("reference", name=op.f("uq_merchant_charges_reference")),
    )
    with op.batch_alter_table("merchant_charges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_merchant_charges_merchant_created", ["merchant_id", "created_at"], unique=False
        )

    op.create_table(
        "payment_lot_uses",
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("lot_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("returned", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["wallet_points_lots.id"],
            name=op.f("fk_payment_lot_uses_lot_id_wallet_points_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_lot_uses_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("payment_id", "lot_id", name=op.f("pk_payment_lot_uses")),
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("points_back", sa.BigInteger(), nullable=False),
        sa.Column("money_back", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("reference", name=op.f("uq_refunds_reference")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_payment", ["payment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_payment")

    op.drop_table("refunds")
    op.drop_table("payment_lot_uses")
    with op.batch_alter_table("merchant_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_merchant_charges_merchant_created")

    op.drop_table("merchant_charges")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_resident_created")
        batch_op.drop_index("ix_payments_merchant_created")

    op.drop_table("payments")
    op.drop_table("merchants")
    op.drop_table("ward_shopping_streets")
    op.drop_table("ward_merchant_categories")
    op.drop_table("outbox_events")
