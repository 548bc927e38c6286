"""Ward notices (お知らせ) to residents: ward-wide or for one district.

Revision ID: 0008_ward_notices
Revises: 0007_analytics
Create Date: 2026-11-23 16:21:59.618613
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_ward_notices"
down_revision = "0007_analytics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ward_notices",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("district_id", sa.String(length=32), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["ward_districts.id"],
            name=op.f("fk_ward_notices_district_id_ward_districts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ward_notices")),
    )
    with op.batch_alter_table("ward_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ward_notices_district_id"), ["district_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ward_notices_published_at"), ["published_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ward_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ward_notices_published_at"))
        batch_op.drop_index(batch_op.f("ix_ward_notices_district_id"))

    op.drop_table("ward_notices")
