"""The differencing guard per published cell, people counted across months, and the
analysts' daily query allowance (analytics/guard.py).

- ``analytics_facts.person_key``: the resident's stable keyed hash. Facts stored before
  this revision cannot be given one (the key needs the secret and the resident id, and
  neither is in the analytics store): they get their monthly pseudonym, so each of their
  months counts as a person of its own until they are ingested again.
- every rollup shape gets its all-months partition (month ``*``) of cells and members, the
  members being person keys (its shop rows already exist);
- ``analytics_guard_cells``: the cells shown to each analyst; ``analytics_query_allowances``:
  what each analyst used of the day's allowance.

Revision ID: 0013_analytics_guard
Revises: 0012_entry_checked_once
Create Date: 2026-12-02 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_analytics_guard"
down_revision = "0012_entry_checked_once"
branch_labels = None
depends_on = None


# The shapes as they are at this revision (analytics/rollups.py SHAPES), with fact columns.
SHAPES: dict[str, tuple[str, ...]] = {
    "ward": (),
    "street": ("shopping_street_id",),
    "district": ("district_id",),
    "category": ("category",),
    "store_type": ("store_type",),
    "age_band": ("age_band",),
    "campaign": ("campaign_id",),
    "street_category": ("shopping_street_id", "category"),
    "street_age_band": ("shopping_street_id", "age_band"),
    "weekday_hour": ("weekday", "hour"),
    "district_weekday_hour": ("district_id", "weekday", "hour"),
}


def _cell(columns: tuple[str, ...]) -> str:
    if not columns:
        return "''"
    return " || '|' || ".join(f"COALESCE(CAST({c} AS TEXT), '~')" for c in columns)


def _fill_all_months() -> None:
    for shape, columns in SHAPES.items():
        cell = _cell(columns)
        # An aggregate without GROUP BY makes a row even of no facts: HAVING drops it.
        by = f" GROUP BY {cell}" if columns else " HAVING COUNT(*) > 0"
        op.execute(
            "INSERT INTO analytics_rollup_cells"
            " (shape, month, cell, payments, spend, points_used, rewards, residents)"
            f" SELECT '{shape}', '*', {cell},"
            " SUM(CASE WHEN kind = 'payment' THEN 1 ELSE 0 END), SUM(amount),"
            " SUM(points_used), SUM(reward), COUNT(DISTINCT person_key)"
            f" FROM analytics_facts{by}"
        )
        op.execute(
            "INSERT INTO analytics_rollup_members (shape, month, cell, resident_key)"
            f" SELECT DISTINCT '{shape}', '*', {cell}, person_key FROM analytics_facts"
        )


def upgrade() -> None:
    with op.batch_alter_table("analytics_facts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_key", sa.String(length=32), nullable=True))
    op.execute("UPDATE analytics_facts SET person_key = resident_key")
    with op.batch_alter_table("analytics_facts", schema=None) as batch_op:
        batch_op.alter_column("person_key", existing_type=sa.String(length=32), nullable=False)
    _fill_all_months()

    op.create_table(
        "analytics_guard_cells",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("analyst_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("predicate", sa.Text(), nullable=False),
        sa.Column("persons", sa.BigInteger(), nullable=False),
        sa.Column("measures", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_guard_cells")),
    )
    with op.batch_alter_table("analytics_guard_cells", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_guard_cells_analyst_fingerprint",
            ["analyst_id", "fingerprint"],
            unique=True,
        )
        batch_op.create_index(
            "ix_analytics_guard_cells_analyst_persons", ["analyst_id", "persons"], unique=False
        )
    op.create_table(
        "analytics_query_allowances",
        sa.Column("analyst_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("analyst_id", "day", name=op.f("pk_analytics_query_allowances")),
    )


def downgrade() -> None:
    op.drop_table("analytics_query_allowances")
    with op.batch_alter_table("analytics_guard_cells", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_guard_cells_analyst_persons")
        batch_op.drop_index("ix_analytics_guard_cells_analyst_fingerprint")
    op.drop_table("analytics_guard_cells")
    op.execute("DELETE FROM analytics_rollup_members WHERE month = '*'")
    op.execute("DELETE FROM analytics_rollup_cells WHERE month = '*'")
    with op.batch_alter_table("analytics_facts", schema=None) as batch_op:
        batch_op.drop_column("person_key")
