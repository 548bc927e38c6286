"""Shop directory and self-service applications (issue 22): the columns several parts share.

- ``merchants.latitude`` / ``longitude``: where the shop is, pinned by the applicant on the
  application's map (NULL: not pinned; the directory lists the shop without a map marker).
- ``merchants.opening_hours``: free text the applicant writes (営業時間, 定休日).
- ``merchants.phone``: the shop's telephone for residents and the ward.
- ``merchants.consented_at``: when the applicant accepted the terms (加盟店規約).
- ``merchants.rejection_reason`` / ``rejected_by`` / ``rejected_at``: an officer's refusal,
  which the applicant reads on the status page.

Revision ID: 0021_shop_directory
Revises: 0018_benefits
Create Date: 2026-12-02 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_shop_directory"
down_revision = "0018_benefits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("merchants", sa.Column("latitude", sa.Numeric(9, 6), nullable=True))
    op.add_column("merchants", sa.Column("longitude", sa.Numeric(9, 6), nullable=True))
    op.add_column("merchants", sa.Column("opening_hours", sa.String(length=200), nullable=True))
    op.add_column("merchants", sa.Column("phone", sa.String(length=20), nullable=True))
    op.add_column("merchants", sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("merchants", sa.Column("rejection_reason", sa.String(length=500), nullable=True))
    op.add_column("merchants", sa.Column("rejected_by", sa.BigInteger(), nullable=True))
    op.add_column("merchants", sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
    # Both or neither, inside Japan's bounding box: a pin in the sea is a typo.
    op.create_check_constraint(
        op.f("ck_merchants_location"),
        "merchants",
        "(latitude IS NULL) = (longitude IS NULL) AND "
        "(latitude IS NULL OR (latitude BETWEEN 20 AND 46 AND longitude BETWEEN 122 AND 154))",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_merchants_location"), "merchants", type_="check")
    for column in (
        "rejected_at",
        "rejected_by",
        "rejection_reason",
        "consented_at",
        "phone",
        "opening_hours",
        "longitude",
        "latitude",
    ):
        op.drop_column("merchants", column)
