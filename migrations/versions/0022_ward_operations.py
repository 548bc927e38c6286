"""Ward operations (issue 21, finished): what a benefit's report published (its
differencing guard) and the help desk's daily cash-up.

- ``analytics_benefit_report_cells``: per benefit, cell (district or "*") and measure, the
  population last published (residents and their figures), shared by every viewer.
- ``desk_cash_ups``: a counter's day-end cash count, declared by one member of desk staff
  and confirmed by another (or an officer) with the day's expected cash and the difference;
  ``desk_audit`` takes the actions ``cash_declare`` and ``cash_confirm``.

Revision ID: 0022_ward_operations
Revises: 0023_group_commit
Create Date: 2026-12-02 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022_ward_operations"
down_revision = "0023_group_commit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_benefit_report_cells",
        sa.Column("benefit_id", sa.BigInteger(), nullable=False),
        sa.Column("cell", sa.String(length=40), nullable=False),
        sa.Column("measure", sa.String(length=8), nullable=False),
        sa.Column("members", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("figures", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "benefit_id", "cell", "measure", name=op.f("pk_analytics_benefit_report_cells")
        ),
    )

    op.create_table(
        "desk_cash_ups",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("office", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("counted", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("declared_by", sa.BigInteger(), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected", sa.BigInteger(), nullable=True),
        sa.Column("top_ups", sa.BigInteger(), nullable=True),
        sa.Column("difference", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('declared', 'confirmed')", name=op.f("ck_desk_cash_ups_status")
        ),
        sa.CheckConstraint("counted >= 0", name=op.f("ck_desk_cash_ups_counted_not_negative")),
        sa.CheckConstraint(
            "(status = 'confirmed') = (confirmed_by IS NOT NULL AND expected IS NOT NULL)",
            name=op.f("ck_desk_cash_ups_confirmed_has_figures"),
        ),
        sa.ForeignKeyConstraint(
            ["declared_by"], ["users.id"], name=op.f("fk_desk_cash_ups_declared_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["users.id"], name=op.f("fk_desk_cash_ups_confirmed_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_cash_ups")),
    )
    op.create_index("ux_desk_cash_ups_office_day", "desk_cash_ups", ["office", "day"], unique=True)
    op.create_index("ix_desk_cash_ups_status", "desk_cash_ups", ["status", "id"], unique=False)
    op.drop_constraint(op.f("ck_desk_audit_action"), "desk_audit", type_="check")
    op.create_check_constraint(
        op.f("ck_desk_audit_action"),
        "desk_audit",
        "action IN ('lookup', 'freeze', 'unfreeze', 'district', 'closure_request',"
        " 'closure_approve', 'top_up', 'cash_declare', 'cash_confirm')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_desk_audit_action"), "desk_audit", type_="check")
    op.create_check_constraint(
        op.f("ck_desk_audit_action"),
        "desk_audit",
        "action IN ('lookup', 'freeze', 'unfreeze', 'district', 'closure_request',"
        " 'closure_approve', 'top_up')",
    )
    op.drop_index("ix_desk_cash_ups_status", table_name="desk_cash_ups")
    op.drop_index("ux_desk_cash_ups_office_day", table_name="desk_cash_ups")
    op.drop_table("desk_cash_ups")
    op.drop_table("analytics_benefit_report_cells")
