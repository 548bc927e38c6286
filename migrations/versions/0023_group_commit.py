"""Group commit (issue 20, item 3): ``ledger_post_batch`` posts many entries in one call,
each in a subtransaction of its own, so one refused entry undoes nothing of the others.

Revision ID: 0023_group_commit
Revises: 0022_lean_payment
Create Date: 2026-12-03 00:00:00
"""

from __future__ import annotations

from alembic import op
from alembic_utils.pg_function import PGFunction

revision = "0023_group_commit"
down_revision = "0022_lean_payment"
branch_labels = None
depends_on = None


def _ledger_post_batch() -> PGFunction:
    return PGFunction(
        schema="public",
        signature="ledger_post_batch( p_keys text[], p_kinds text[], p_memos text[], p_fingerprints text[], p_hashes text[], p_created_ats timestamptz[], p_leg_counts int[], p_codes text[], p_amounts bigint[] )",
        definition="returns TABLE (ord int, entry_id bigint, created boolean, refusal text, detail text)\nLANGUAGE plpgsql AS $$\nDECLARE\n    v_first int := 1;\n    v_last int;\nBEGIN\n    PERFORM 1 FROM ledger_accounts a\n     WHERE a.code = ANY (p_codes) AND NOT a.hot\n     ORDER BY a.id\n       FOR UPDATE;\n    FOR i IN 1 .. cardinality(p_keys) LOOP\n        v_last := v_first + p_leg_counts[i] - 1;\n        ord := i;\n        refusal := NULL;\n        detail := NULL;\n        BEGIN\n            SELECT p.entry_id, p.created INTO entry_id, created\n              FROM ledger_post(p_keys[i], p_kinds[i], p_memos[i], NULL, p_fingerprints[i],\n                               p_hashes[i], p_created_ats[i], p_codes[v_first\\:v_last],\n                               p_amounts[v_first\\:v_last]) p;\n        EXCEPTION WHEN SQLSTATE 'ML001' OR SQLSTATE 'ML002' OR SQLSTATE 'ML003' THEN\n            GET STACKED DIAGNOSTICS refusal = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;\n            entry_id := NULL;\n            created := false;\n        END;\n        RETURN NEXT;\n        v_first := v_last + 1;\n    END LOOP;\nEND $$",
    )


def upgrade() -> None:
    op.create_entity(_ledger_post_batch())  # type: ignore[attr-defined]


def downgrade() -> None:
    op.drop_entity(_ledger_post_batch())  # type: ignore[attr-defined]
