"""Identity (users, refresh tokens), ward districts, idempotency keys, residents' wallets.

Revision ID: 0002_identity_wallet
Revises: 0001_ledger
Create Date: 2026-11-23 08:38:07.933841
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ward.data import ward_reference

revision = "0002_identity_wallet"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("resource_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_idempotency_keys_scope")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "ward_districts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ward_districts")),
    )
    districts = sa.table(
        "ward_districts",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("name_en", sa.String),
        sa.column("area", sa.String),
    )
    op.bulk_insert(
        districts,
        [
            {"id": d["code"], "name": d["name"], "name_en": d["name_en"], "area": d["area"]}
            for d in ward_reference()["districts"]
        ],
    )
    op.create_table(
        "auth_refresh_tokens",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_refresh_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_refresh_tokens_token_hash")),
    )
    with op.batch_alter_table("auth_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_auth_refresh_tokens_family", ["family_id"], unique=False)

    op.create_table(
        "residents",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("wallet_id", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=40), nullable=False),
        sa.Column("birth_year", sa.SmallInteger(), nullable=False),
        sa.Column("district_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["ward_districts.id"],
            name=op.f("fk_residents_district_id_ward_districts"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_residents_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_residents")),
        sa.UniqueConstraint("phone", name=op.f("uq_residents_phone")),
        sa.UniqueConstraint("wallet_id", name=op.f("uq_residents_wallet_id")),
    )
    op.create_table(
        "wallet_points_lots",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("granted_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.user_id"],
            name=op.f("fk_wallet_points_lots_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_points_lots")),
    )
    with op.batch_alter_table("wallet_points_lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wallet_points_lots_resident_expiry",
            ["resident_id", "expires_at", "id"],
            unique=False,
        )

    op.create_table(
        "wallet_transactions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("money_change", sa.BigInteger(), nullable=False),
        sa.Column("points_change", sa.BigInteger(), nullable=False),
        sa.Column("counterparty", sa.String(length=80), nullable=True),
        sa.Column("message", sa.String(length=200), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.user_id"],
            name=op.f("fk_wallet_transactions_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_transactions")),
    )
    with op.batch_alter_table("wallet_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wallet_transactions_resident_id", ["resident_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_wallet_transactions_resident_kind_created",
            ["resident_id", "kind", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("wallet_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_transactions_resident_kind_created")
        batch_op.drop_index("ix_wallet_transactions_resident_id")

    op.drop_table("wallet_transactions")
    with op.batch_alter_table("wallet_points_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_points_lots_resident_expiry")

    op.drop_table("wallet_points_lots")
    op.drop_table("residents")
    with op.batch_alter_table("auth_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_refresh_tokens_family")

    op.drop_table("auth_refresh_tokens")
    op.drop_table("ward_districts")
    op.drop_table("users")
    op.drop_table("idempotency_keys")
