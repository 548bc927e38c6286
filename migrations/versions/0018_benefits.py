"""Benefits (給付): the ward's points for its residents. Tables for the distributions, their
recipients, one grant per recipient (primary key: never twice) and the audit trail; points
lots get a source, a campaign or a benefit (exactly one), and remember what expired.

Revision ID: 0018_benefits
Revises: 0016_sql_in_files
Create Date: 2026-12-02 16:54:10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_benefits"
down_revision = "0016_sql_in_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "benefit_audit",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("benefit_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_audit")),
    )
    op.create_index("ix_benefit_audit_benefit", "benefit_audit", ["benefit_id", "id"], unique=False)
    op.create_table(
        "benefit_grants",
        sa.Column("benefit_id", sa.BigInteger(), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("benefit_id", "resident_id", name=op.f("pk_benefit_grants")),
    )
    op.create_table(
        "benefit_recipients",
        sa.Column("benefit_id", sa.BigInteger(), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("benefit_id", "resident_id", name=op.f("pk_benefit_recipients")),
    )
    op.create_table(
        "benefits",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("points_per_recipient", sa.BigInteger(), nullable=False),
        sa.Column("points_expiry_days", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient_rule", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.BigInteger(), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column("granted", sa.BigInteger(), nullable=False),
        sa.Column("granted_through", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.BigInteger(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("funding_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'running', 'done')",
            name=op.f("ck_benefits_status"),
        ),
        sa.CheckConstraint(
            "granted >= 0 AND granted <= recipients", name=op.f("ck_benefits_granted_within")
        ),
        sa.CheckConstraint("points_expiry_days > 0", name=op.f("ck_benefits_expiry_positive")),
        sa.CheckConstraint("points_per_recipient > 0", name=op.f("ck_benefits_points_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefits")),
    )
    op.create_index("ix_benefits_status_starts", "benefits", ["status", "starts_at"], unique=False)
    op.add_column("wallet_points_lots", sa.Column("benefit_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "wallet_points_lots",
        sa.Column("expired", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.alter_column("wallet_points_lots", "campaign_id", existing_type=sa.BIGINT(), nullable=True)
    op.create_index(
        "ux_wallet_points_lots_benefit_resident",
        "wallet_points_lots",
        ["benefit_id", "resident_id"],
        unique=True,
        postgresql_where=sa.text("benefit_id IS NOT NULL"),
    )
    op.create_check_constraint(
        op.f("ck_wallet_points_lots_one_source"),
        "wallet_points_lots",
        "num_nonnulls(campaign_id, benefit_id) = 1",
    )
    # Lots expired before this revision: what they lost is what was neither spent nor left,
    # which the lots alone cannot tell apart; they stay 0 (the ledger has the breakage).


def downgrade() -> None:
    # A benefit's points lot has no campaign: going back would orphan it in the books.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT FROM wallet_points_lots WHERE benefit_id IS NOT NULL)"
        " THEN RAISE EXCEPTION 'benefit points lots exist: cannot downgrade below 0018';"
        " END IF; END $$"
    )
    op.drop_constraint(
        op.f("ck_wallet_points_lots_one_source"), "wallet_points_lots", type_="check"
    )
    op.drop_index(
        "ux_wallet_points_lots_benefit_resident",
        table_name="wallet_points_lots",
        postgresql_where=sa.text("benefit_id IS NOT NULL"),
    )
    op.alter_column("wallet_points_lots", "campaign_id", existing_type=sa.BIGINT(), nullable=False)
    op.drop_column("wallet_points_lots", "expired")
    op.drop_column("wallet_points_lots", "benefit_id")
    op.drop_index("ix_benefits_status_starts", table_name="benefits")
    op.drop_table("benefits")
    op.drop_table("benefit_recipients")
    op.drop_table("benefit_grants")
    op.drop_index("ix_benefit_audit_benefit", table_name="benefit_audit")
    op.drop_table("benefit_audit")
