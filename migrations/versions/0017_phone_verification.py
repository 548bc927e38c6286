"""Phone verification and account recovery: residents prove their phone with an SMS code
before their wallet can pay or receive; codes (verification, password reset) are stored
as keyed hashes; shop owners may give a phone for password resets.

Residents registered before this revision keep using their wallets: they are marked
verified as of their registration (they were accepted under the rules of their day).

Revision ID: 0017_phone_verification
Revises: 0020_topup_refs_staff (written on 0016_sql_in_files; re-chained after merging main)
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_phone_verification"
down_revision = "0019_help_desk"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("phone", sa.String(length=16), nullable=True))
    op.add_column("residents", sa.Column("phone_verified_at", TS, nullable=True))
    op.execute("UPDATE residents SET phone_verified_at = created_at")
    op.create_table(
        "phone_codes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_phone_codes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_codes")),
    )
    op.create_index(
        "ix_phone_codes_user_purpose", "phone_codes", ["user_id", "purpose", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_phone_codes_user_purpose", table_name="phone_codes")
    op.drop_table("phone_codes")
    op.drop_column("residents", "phone_verified_at")
    op.drop_column("users", "phone")
