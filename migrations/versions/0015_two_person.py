"""Two people for every power over money: a shop's first approval waits for a second
person's, and the bank's payout result is applied only when a second operator confirms
the import.

Revision ID: 0015_two_person
Revises: 0014_dp_data_budget
Create Date: 2026-12-02 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_two_person"
down_revision = "0014_dp_data_budget"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_approved_by", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("first_approved_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "payout_result_imports",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_by", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed')", name=op.f("ck_payout_result_imports_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_result_imports")),
    )
    op.create_index(
        "ix_payout_result_imports_status", "payout_result_imports", ["status", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_payout_result_imports_status", table_name="payout_result_imports")
    op.drop_table("payout_result_imports")
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("first_approved_at")
        batch_op.drop_column("first_approved_by")
