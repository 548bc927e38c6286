"""DP mode's per-fact clamp as one SQL function, ``analytics_clamp(value, cap)``
(analytics/sql/analytics_clamp.sql): a DP query reading the facts and the cells' upsert and
rebuild clamp each fact's amount, points used and reward to ±cap with it, instead of each
writing ``GREATEST(LEAST(x, cap), -cap)`` of its own. A plain SQL expression the planner
inlines: the same plans as before. Nothing stored changes.

Revision ID: 0025_dp_fact_clamp
Revises: 0024_dp_cells
Create Date: 2026-12-03 06:45:00
"""

from __future__ import annotations

from alembic import op
from alembic_utils.pg_function import PGFunction

revision = "0025_dp_fact_clamp"
down_revision = "0024_dp_cells"
branch_labels = None
depends_on = None


def _analytics_clamp() -> PGFunction:
    return PGFunction(
        schema="public",
        signature="analytics_clamp(value bigint, cap bigint)",
        definition="returns bigint\nLANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$\n    SELECT CASE WHEN value IS NULL THEN NULL ELSE greatest(least(value, cap), -cap) END\n$$",
    )


def upgrade() -> None:
    op.create_entity(_analytics_clamp())  # type: ignore[attr-defined]


def downgrade() -> None:
    op.drop_entity(_analytics_clamp())  # type: ignore[attr-defined]
