"""A lean payment path (issue 20): the payer's gate and the till's taker in the payment's
own calls.

- ``wallet_lock_lots`` checks the payer's verified phone as well as the wallet's status under
  the row lock it already takes (MW003 unverified, MW001 frozen, MW002 closed), so a payment
  no longer reads ``residents`` first.
- ``payment_record`` takes ``p_taken_by``: a till payment no longer needs its own ``UPDATE``.
  A new argument is a new signature, so the old function is dropped.

Revision ID: 0022_lean_payment
Revises: 0021_shop_directory
Create Date: 2026-12-02 23:40:00
"""

from __future__ import annotations

from alembic import op
from alembic_utils.pg_function import PGFunction

revision = "0022_lean_payment"
down_revision = "0021_shop_directory"
branch_labels = None
depends_on = None

_OLD_PAYMENT_RECORD = "payment_record( p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text, p_created_at timestamptz, p_codes text[], p_amounts bigint[], p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint, p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean, p_lot_ids bigint[], p_lot_takes bigint[], p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz, p_reward_lot_reference text, p_history_references text[], p_history_kinds text[], p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[], p_outbox_topic text, p_outbox_payload text )"
_NEW_PAYMENT_RECORD = "payment_record( p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text, p_created_at timestamptz, p_codes text[], p_amounts bigint[], p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint, p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_taken_by bigint, p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean, p_lot_ids bigint[], p_lot_takes bigint[], p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz, p_reward_lot_reference text, p_history_references text[], p_history_kinds text[], p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[], p_outbox_topic text, p_outbox_payload text )"


def _drop(signature: str) -> None:
    name, arguments = signature.split("(", 1)
    # Argument names are not part of a function's identity; the types are.
    types = ", ".join(
        part.strip().split(" ", 1)[1] for part in arguments.rstrip(")").split(",") if part.strip()
    )
    op.execute(f"DROP FUNCTION public.{name}({types})")


def upgrade() -> None:
    wallet_lock_lots = PGFunction(
        schema="public",
        signature="wallet_lock_lots(p_resident bigint, p_now timestamptz)",
        definition="returns TABLE (lot_id bigint, remaining bigint) LANGUAGE plpgsql AS $$\nDECLARE\n    v_status text;\n    v_verified timestamptz;\nBEGIN\n    SELECT r.status, r.phone_verified_at INTO v_status, v_verified\n      FROM residents r WHERE r.user_id = p_resident FOR UPDATE;\n    IF NOT FOUND OR v_verified IS NULL THEN\n        RAISE EXCEPTION USING ERRCODE = 'MW003',\n            MESSAGE = format('resident %s has no verified phone\\: no money leaves the wallet', p_resident);\n    END IF;\n    IF v_status = 'frozen' THEN\n        RAISE EXCEPTION USING ERRCODE = 'MW001',\n            MESSAGE = format('wallet of resident %s is frozen\\: no money leaves it', p_resident);\n    END IF;\n    IF v_status <> 'active' THEN\n        RAISE EXCEPTION USING ERRCODE = 'MW002',\n            MESSAGE = format('wallet of resident %s is %s\\: no money leaves it', p_resident, v_status);\n    END IF;\n    RETURN QUERY\n        SELECT l.id, l.remaining FROM wallet_points_lots l\n         WHERE l.resident_id = p_resident AND l.remaining > 0 AND l.expires_at > p_now\n         ORDER BY l.expires_at, l.id\n           FOR UPDATE;\nEND $$",
    )
    op.replace_entity(wallet_lock_lots)  # type: ignore[attr-defined]
    _drop(_OLD_PAYMENT_RECORD)
    payment_record = PGFunction(
        schema="public",
        signature="payment_record( p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text, p_created_at timestamptz, p_codes text[], p_amounts bigint[], p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint, p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_taken_by bigint, p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean, p_lot_ids bigint[], p_lot_takes bigint[], p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz, p_reward_lot_reference text, p_history_references text[], p_history_kinds text[], p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[], p_outbox_topic text, p_outbox_payload text )",
        definition="returns TABLE (entry_id bigint, created boolean, payment_id bigint) LANGUAGE plpgsql AS $$\nDECLARE\n    v_entry bigint;\n    v_created boolean;\n    v_payment bigint;\nBEGIN\n    SELECT p.entry_id, p.created INTO v_entry, v_created\n      FROM ledger_post(p_key, p_kind, p_memo, NULL, p_fingerprint, p_hash, p_created_at,\n                       p_codes, p_amounts) p;\n\n    INSERT INTO payments (reference, resident_id, merchant_id, amount, points_used, money_used,\n                          method, charge_id, taken_by, entry_id, resident_reward,\n                          merchant_cashback, rewards_granted, refunded_amount, refunded_points,\n                          created_at)\n    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,\n            p_method, p_charge, p_taken_by, v_entry, p_resident_reward, p_merchant_cashback,\n            p_rewards_granted, 0, 0, p_paid_at)\n    RETURNING id INTO v_payment;\n\n    IF cardinality(p_lot_ids) > 0 THEN\n        PERFORM wallet_spend_lots(p_reference, p_lot_ids, p_lot_takes);\n        INSERT INTO payment_lot_uses (payment_id, lot_id, amount, returned)\n        SELECT v_payment, t.lot_id, t.take, 0\n          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take);\n    END IF;\n\n    IF p_reward_lot_amount IS NOT NULL THEN\n        PERFORM wallet_grant_lot(p_resident, p_reward_lot_amount, p_paid_at,\n                                 p_reward_lot_expires, p_reward_lot_campaign, v_entry,\n                                 p_reward_lot_reference);\n    END IF;\n\n    PERFORM wallet_write_history(p_resident, v_entry, p_paid_at, p_history_references,\n                                 p_history_kinds, p_history_amounts, p_history_money,\n                                 p_history_points, p_history_counterparties);\n\n    PERFORM outbox_emit(p_outbox_topic, p_outbox_payload);\n\n    entry_id := v_entry;\n    created := v_created;\n    payment_id := v_payment;\n    RETURN NEXT;\nEND $$",
    )
    op.create_entity(payment_record)  # type: ignore[attr-defined]


def downgrade() -> None:
    wallet_lock_lots = PGFunction(
        schema="public",
        signature="wallet_lock_lots(p_resident bigint, p_now timestamptz)",
        definition="returns TABLE (lot_id bigint, remaining bigint) LANGUAGE plpgsql AS $$\nDECLARE\n    v_status text;\nBEGIN\n    SELECT r.status INTO v_status FROM residents r WHERE r.user_id = p_resident FOR UPDATE;\n    IF NOT FOUND THEN\n        RAISE EXCEPTION 'resident % has no row to lock', p_resident;\n    END IF;\n    IF v_status <> 'active' THEN\n        RAISE EXCEPTION USING ERRCODE = 'MW001',\n            MESSAGE = format('wallet of resident %s is %s\\: no money leaves it', p_resident, v_status);\n    END IF;\n    RETURN QUERY\n        SELECT l.id, l.remaining FROM wallet_points_lots l\n         WHERE l.resident_id = p_resident AND l.remaining > 0 AND l.expires_at > p_now\n         ORDER BY l.expires_at, l.id\n           FOR UPDATE;\nEND $$",
    )
    op.replace_entity(wallet_lock_lots)  # type: ignore[attr-defined]
    _drop(_NEW_PAYMENT_RECORD)
    payment_record = PGFunction(
        schema="public",
        signature="payment_record( p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text, p_created_at timestamptz, p_codes text[], p_amounts bigint[], p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint, p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean, p_lot_ids bigint[], p_lot_takes bigint[], p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz, p_reward_lot_reference text, p_history_references text[], p_history_kinds text[], p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[], p_outbox_topic text, p_outbox_payload text )",
        definition="returns TABLE (entry_id bigint, created boolean, payment_id bigint) LANGUAGE plpgsql AS $$\nDECLARE\n    v_entry bigint;\n    v_created boolean;\n    v_payment bigint;\nBEGIN\n    SELECT p.entry_id, p.created INTO v_entry, v_created\n      FROM ledger_post(p_key, p_kind, p_memo, NULL, p_fingerprint, p_hash, p_created_at,\n                       p_codes, p_amounts) p;\n\n    INSERT INTO payments (reference, resident_id, merchant_id, amount, points_used, money_used,\n                          method, charge_id, entry_id, resident_reward, merchant_cashback,\n                          rewards_granted, refunded_amount, refunded_points, created_at)\n    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,\n            p_method, p_charge, v_entry, p_resident_reward, p_merchant_cashback,\n            p_rewards_granted, 0, 0, p_paid_at)\n    RETURNING id INTO v_payment;\n\n    IF cardinality(p_lot_ids) > 0 THEN\n        PERFORM wallet_spend_lots(p_reference, p_lot_ids, p_lot_takes);\n        INSERT INTO payment_lot_uses (payment_id, lot_id, amount, returned)\n        SELECT v_payment, t.lot_id, t.take, 0\n          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take);\n    END IF;\n\n    IF p_reward_lot_amount IS NOT NULL THEN\n        PERFORM wallet_grant_lot(p_resident, p_reward_lot_amount, p_paid_at,\n                                 p_reward_lot_expires, p_reward_lot_campaign, v_entry,\n                                 p_reward_lot_reference);\n    END IF;\n\n    PERFORM wallet_write_history(p_resident, v_entry, p_paid_at, p_history_references,\n                                 p_history_kinds, p_history_amounts, p_history_money,\n                                 p_history_points, p_history_counterparties);\n\n    PERFORM outbox_emit(p_outbox_topic, p_outbox_payload);\n\n    entry_id := v_entry;\n    created := v_created;\n    payment_id := v_payment;\n    RETURN NEXT;\nEND $$",
    )
    op.create_entity(payment_record)  # type: ignore[attr-defined]
