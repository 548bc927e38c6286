"""The help desk (窓口): wallets that can be frozen or closed (a closed one gives its phone
number back), the desk's append-only audit, closure requests, counter top-ups and desk
staff cards; payouts generalised to carry a closed wallet's refund to the resident; and
wallet_lock_lots refusing a wallet that is not active (the database's copy of the gate).

Revision ID: 0019_help_desk
Revises: 0016_sql_in_files
Create Date: 2026-12-02 16:55:50.978042
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic_utils.pg_function import PGFunction
from sqlalchemy import text as sql_text

DESK_AUDIT_TRIGGERS = (
    """CREATE TRIGGER desk_audit_append_only BEFORE UPDATE OR DELETE ON desk_audit
    FOR EACH ROW EXECUTE FUNCTION desk_reject_change()""",
    """CREATE TRIGGER desk_audit_no_truncate BEFORE TRUNCATE ON desk_audit
    FOR EACH STATEMENT EXECUTE FUNCTION desk_reject_change()""",
)

revision = "0019_help_desk"
down_revision = "0020_topup_refs_staff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    public_wallet_lock_lots = PGFunction(
        schema="public",
        signature="wallet_lock_lots(p_resident bigint, p_now timestamptz)",
        definition="returns TABLE (lot_id bigint, remaining bigint) LANGUAGE plpgsql AS $$\nDECLARE\n    v_status text;\nBEGIN\n    SELECT r.status INTO v_status FROM residents r WHERE r.user_id = p_resident FOR UPDATE;\n    IF NOT FOUND THEN\n        RAISE EXCEPTION 'resident % has no row to lock', p_resident;\n    END IF;\n    IF v_status <> 'active' THEN\n        RAISE EXCEPTION USING ERRCODE = 'MW001',\n            MESSAGE = format('wallet of resident %s is %s\\: no money leaves it', p_resident, v_status);\n    END IF;\n    RETURN QUERY\n        SELECT l.id, l.remaining FROM wallet_points_lots l\n         WHERE l.resident_id = p_resident AND l.remaining > 0 AND l.expires_at > p_now\n         ORDER BY l.expires_at, l.id\n           FOR UPDATE;\nEND $$",
    )
    op.replace_entity(public_wallet_lock_lots)  # type: ignore[attr-defined]

    public_desk_reject_change = PGFunction(
        schema="public",
        signature="desk_reject_change()",
        definition="returns trigger LANGUAGE plpgsql AS $$\nBEGIN\n    RAISE EXCEPTION USING ERRCODE = 'MD001',\n        MESSAGE = format('%s is append-only', TG_TABLE_NAME);\nEND $$",
    )
    op.create_entity(public_desk_reject_change)  # type: ignore[attr-defined]

    op.create_table(
        "desk_audit",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("searched_by", sa.String(length=10), nullable=True),
        sa.Column("searched_value", sa.String(length=40), nullable=True),
        sa.Column("resident_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('lookup', 'freeze', 'unfreeze', 'district', 'closure_request', 'closure_approve', 'top_up')",
            name=op.f("ck_desk_audit_action"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["users.id"], name=op.f("fk_desk_audit_staff_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_audit")),
    )
    op.create_index("ix_desk_audit_resident_id", "desk_audit", ["resident_id", "id"], unique=False)
    op.create_index("ix_desk_audit_staff_id", "desk_audit", ["staff_id", "id"], unique=False)
    op.create_table(
        "desk_closures",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("account_type", sa.String(length=8), nullable=False),
        sa.Column("account_number", sa.String(length=7), nullable=False),
        sa.Column("account_name_kana", sa.String(length=60), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund", sa.BigInteger(), nullable=True),
        sa.Column("points_forfeited", sa.BigInteger(), nullable=True),
        sa.Column("payout_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved')", name=op.f("ck_desk_closures_status")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_desk_closures_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_desk_closures_requested_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_closures")),
    )
    op.create_index("ix_desk_closures_status", "desk_closures", ["status", "id"], unique=False)
    op.create_index(
        "ux_desk_closures_pending",
        "desk_closures",
        ["resident_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "desk_staff",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("display_name", sa.String(length=40), nullable=False),
        sa.Column("office", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_desk_staff_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_desk_staff")),
    )
    op.create_table(
        "desk_top_ups",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=24), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("wallet_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("staff_name", sa.String(length=40), nullable=False),
        sa.Column("office", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_desk_top_ups_amount_positive")),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["users.id"], name=op.f("fk_desk_top_ups_staff_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_top_ups")),
        sa.UniqueConstraint("reference", name=op.f("uq_desk_top_ups_reference")),
    )
    op.add_column("merchant_payouts", sa.Column("resident_id", sa.BigInteger(), nullable=True))
    op.alter_column("merchant_payouts", "settlement_id", existing_type=sa.BIGINT(), nullable=True)
    op.alter_column("merchant_payouts", "merchant_id", existing_type=sa.BIGINT(), nullable=True)
    op.create_foreign_key(
        op.f("fk_merchant_payouts_resident_id_residents"),
        "merchant_payouts",
        "residents",
        ["resident_id"],
        ["user_id"],
    )
    op.add_column(
        "residents",
        sa.Column("status", sa.String(length=8), server_default="active", nullable=False),
    )
    op.alter_column("residents", "phone", existing_type=sa.VARCHAR(length=16), nullable=True)
    op.create_check_constraint(
        "ck_residents_status", "residents", "status IN ('active', 'frozen', 'closed')"
    )
    op.create_check_constraint(
        "ck_residents_phone_until_closed", "residents", "(status = 'closed') = (phone IS NULL)"
    )
    op.create_check_constraint(
        "ck_merchant_payouts_one_payee",
        "merchant_payouts",
        "(merchant_id IS NOT NULL AND settlement_id IS NOT NULL AND resident_id IS NULL)"
        " OR (merchant_id IS NULL AND settlement_id IS NULL AND resident_id IS NOT NULL)",
    )
    for trigger in DESK_AUDIT_TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(
        sql_text("SELECT EXISTS (SELECT FROM merchant_payouts WHERE resident_id IS NOT NULL)")
    ).scalar():
        raise RuntimeError(
            "merchant_payouts holds refunds to residents of closed wallets; the schema before"
            " 0019 cannot hold them. Settle and archive them before downgrading."
        )
    op.execute("DROP TRIGGER desk_audit_no_truncate ON desk_audit")
    op.execute("DROP TRIGGER desk_audit_append_only ON desk_audit")
    op.drop_constraint("ck_merchant_payouts_one_payee", "merchant_payouts", type_="check")
    op.drop_constraint("ck_residents_phone_until_closed", "residents", type_="check")
    op.drop_constraint("ck_residents_status", "residents", type_="check")
    # A closed wallet gave its number back; the old schema wants one: a placeholder that
    # no phone can have (E.164 never starts +0).
    op.execute("UPDATE residents SET phone = '+0' || user_id WHERE phone IS NULL")
    op.alter_column("residents", "phone", existing_type=sa.VARCHAR(length=16), nullable=False)
    op.drop_column("residents", "status")
    op.drop_constraint(
        op.f("fk_merchant_payouts_resident_id_residents"), "merchant_payouts", type_="foreignkey"
    )
    op.alter_column("merchant_payouts", "merchant_id", existing_type=sa.BIGINT(), nullable=False)
    op.alter_column("merchant_payouts", "settlement_id", existing_type=sa.BIGINT(), nullable=False)
    op.drop_column("merchant_payouts", "resident_id")
    op.drop_table("desk_top_ups")
    op.drop_table("desk_staff")
    op.drop_index(
        "ux_desk_closures_pending",
        table_name="desk_closures",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_desk_closures_status", table_name="desk_closures")
    op.drop_table("desk_closures")
    op.drop_index("ix_desk_audit_staff_id", table_name="desk_audit")
    op.drop_index("ix_desk_audit_resident_id", table_name="desk_audit")
    op.drop_table("desk_audit")
    public_desk_reject_change = PGFunction(
        schema="public",
        signature="desk_reject_change()",
        definition="returns trigger LANGUAGE plpgsql AS $$\nBEGIN\n    RAISE EXCEPTION USING ERRCODE = 'MD001',\n        MESSAGE = format('%s is append-only', TG_TABLE_NAME);\nEND $$",
    )
    op.drop_entity(public_desk_reject_change)  # type: ignore[attr-defined]

    public_wallet_lock_lots = PGFunction(
        schema="public",
        signature="wallet_lock_lots(p_resident bigint, p_now timestamp with time zone)",
        definition="returns TABLE(lot_id bigint, remaining bigint)\n LANGUAGE plpgsql\nAS $function$\nBEGIN\n    PERFORM 1 FROM residents WHERE user_id = p_resident FOR UPDATE;\n    IF NOT FOUND THEN\n        RAISE EXCEPTION 'resident % has no row to lock', p_resident;\n    END IF;\n    RETURN QUERY\n        SELECT l.id, l.remaining FROM wallet_points_lots l\n         WHERE l.resident_id = p_resident AND l.remaining > 0 AND l.expires_at > p_now\n         ORDER BY l.expires_at, l.id\n           FOR UPDATE;\nEND $function$",
    )
    op.replace_entity(public_wallet_lock_lots)  # type: ignore[attr-defined]
