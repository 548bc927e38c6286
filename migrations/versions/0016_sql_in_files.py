"""The payment's one call writes only its own context's tables: ``payment_record`` keeps
``payments`` and ``payment_lot_uses`` and calls the wallet's functions for the points lots it
spends and grants and the history lines, and ``outbox_emit`` for the fact (DESIGN.md §2: a
table is written only by its own context). Same signature, same rows, same order, one round
trip: each call inside the function costs microseconds.

From this revision on, every function's and trigger's current text lives in one ``.sql``
file of the context that owns it (``ledger/sql/``, ``campaigns/sql/``, ``wallet_api/sql/``,
``payments/sql/``, ``machipay/sql/``); a migration that changes one carries its full text,
as this one does (``alembic revision --autogenerate`` writes it from the changed file), and
tests/test_sql_drift.py holds the files and the migrated database equal.

Revision ID: 0016_sql_in_files
Revises: 0015_two_person
Create Date: 2026-12-02 13:40:06
"""

from __future__ import annotations

from alembic import op
from alembic_utils.pg_function import PGFunction

revision = "0016_sql_in_files"
down_revision = "0015_two_person"
branch_labels = None
depends_on = None

# The outbox's own function: SQL emits its facts through it (outbox_events is infrastructure).
OUTBOX_EMIT = PGFunction.from_sql(
    r"""
CREATE OR REPLACE FUNCTION public.outbox_emit(p_topic text, p_payload text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (topic, payload, created_at)
    VALUES (p_topic, p_payload, clock_timestamp());
END $$;
"""
)

# The wallet's: the points spent from each locked lot.
WALLET_SPEND_LOTS = PGFunction.from_sql(
    r"""
CREATE OR REPLACE FUNCTION public.wallet_spend_lots(p_reference text, p_lot_ids bigint[], p_takes bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_spent int;
BEGIN
    UPDATE wallet_points_lots l SET remaining = l.remaining - t.take
      FROM unnest(p_lot_ids, p_takes) AS t(lot_id, take)
     WHERE l.id = t.lot_id AND l.remaining >= t.take;
    GET DIAGNOSTICS v_spent = ROW_COUNT;
    IF v_spent <> cardinality(p_lot_ids) THEN
        -- The lots were locked by wallet_lock_lots in this transaction: cannot happen.
        RAISE EXCEPTION 'payment %: % of % points lots could not be spent',
            p_reference, cardinality(p_lot_ids) - v_spent, cardinality(p_lot_ids);
    END IF;
END $$;
"""
)

# The wallet's: a reward's new lot.
WALLET_GRANT_LOT = PGFunction.from_sql(
    r"""
CREATE OR REPLACE FUNCTION public.wallet_grant_lot(
    p_resident bigint, p_amount bigint, p_granted_at timestamptz, p_expires_at timestamptz,
    p_campaign bigint, p_entry bigint, p_reference text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wallet_points_lots (resident_id, amount, remaining, granted_at, expires_at,
                                    campaign_id, entry_id, source_reference)
    VALUES (p_resident, p_amount, p_amount, p_granted_at, p_expires_at, p_campaign, p_entry,
            p_reference);
END $$;
"""
)

# The wallet's: the resident's history lines of one entry.
WALLET_WRITE_HISTORY = PGFunction.from_sql(
    r"""
CREATE OR REPLACE FUNCTION public.wallet_write_history(
    p_resident bigint, p_entry bigint, p_at timestamptz,
    p_references text[], p_kinds text[], p_amounts bigint[], p_money bigint[],
    p_points bigint[], p_counterparties text[]
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wallet_transactions (resident_id, reference, kind, amount, money_change,
                                     points_change, counterparty, message, entry_id, created_at)
    SELECT p_resident, h.reference, h.kind, h.amount, h.money, h.points, h.counterparty, NULL,
           p_entry, p_at
      FROM unnest(p_references, p_kinds, p_amounts, p_money, p_points, p_counterparties)
           WITH ORDINALITY AS h(reference, kind, amount, money, points, counterparty, ord)
     ORDER BY h.ord;
END $$;
"""
)

# The payment's one call, now writing only payments and payment_lot_uses itself.
PAYMENT_RECORD = PGFunction.from_sql(
    r"""
CREATE OR REPLACE FUNCTION public.payment_record(
    p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text,
    p_created_at timestamptz, p_codes text[], p_amounts bigint[],
    p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint,
    p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint,
    p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean,
    p_lot_ids bigint[], p_lot_takes bigint[],
    p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz,
    p_reward_lot_reference text,
    p_history_references text[], p_history_kinds text[], p_history_amounts bigint[],
    p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[],
    p_outbox_topic text, p_outbox_payload text
) RETURNS TABLE (entry_id bigint, created boolean, payment_id bigint) LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_created boolean;
    v_payment bigint;
BEGIN
    SELECT p.entry_id, p.created INTO v_entry, v_created
      FROM ledger_post(p_key, p_kind, p_memo, NULL, p_fingerprint, p_hash, p_created_at,
                       p_codes, p_amounts) p;

    INSERT INTO payments (reference, resident_id, merchant_id, amount, points_used, money_used,
                          method, charge_id, entry_id, resident_reward, merchant_cashback,
                          rewards_granted, refunded_amount, refunded_points, created_at)
    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,
            p_method, p_charge, v_entry, p_resident_reward, p_merchant_cashback,
            p_rewards_granted, 0, 0, p_paid_at)
    RETURNING id INTO v_payment;

    IF cardinality(p_lot_ids) > 0 THEN
        PERFORM wallet_spend_lots(p_reference, p_lot_ids, p_lot_takes);
        INSERT INTO payment_lot_uses (payment_id, lot_id, amount, returned)
        SELECT v_payment, t.lot_id, t.take, 0
          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take);
    END IF;

    IF p_reward_lot_amount IS NOT NULL THEN
        PERFORM wallet_grant_lot(p_resident, p_reward_lot_amount, p_paid_at,
                                 p_reward_lot_expires, p_reward_lot_campaign, v_entry,
                                 p_reward_lot_reference);
    END IF;

    PERFORM wallet_write_history(p_resident, v_entry, p_paid_at, p_history_references,
                                 p_history_kinds, p_history_amounts, p_history_money,
                                 p_history_points, p_history_counterparties);

    PERFORM outbox_emit(p_outbox_topic, p_outbox_payload);

    entry_id := v_entry;
    created := v_created;
    payment_id := v_payment;
    RETURN NEXT;
END $$;
"""
)

# Downgrade: payment_record as revision 0011 installed it.
PAYMENT_RECORD_0011 = PGFunction.from_sql(
    r"""
CREATE OR REPLACE FUNCTION public.payment_record(
    p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text,
    p_created_at timestamptz, p_codes text[], p_amounts bigint[],
    p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint,
    p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint,
    p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean,
    p_lot_ids bigint[], p_lot_takes bigint[],
    p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz,
    p_reward_lot_reference text,
    p_history_references text[], p_history_kinds text[], p_history_amounts bigint[],
    p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[],
    p_outbox_topic text, p_outbox_payload text
) RETURNS TABLE (entry_id bigint, created boolean, payment_id bigint) LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_created boolean;
    v_payment bigint;
    v_spent int;
BEGIN
    SELECT p.entry_id, p.created INTO v_entry, v_created
      FROM ledger_post(p_key, p_kind, p_memo, NULL, p_fingerprint, p_hash, p_created_at,
                       p_codes, p_amounts) p;

    INSERT INTO payments (reference, resident_id, merchant_id, amount, points_used, money_used,
                          method, charge_id, entry_id, resident_reward, merchant_cashback,
                          rewards_granted, refunded_amount, refunded_points, created_at)
    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,
            p_method, p_charge, v_entry, p_resident_reward, p_merchant_cashback,
            p_rewards_granted, 0, 0, p_paid_at)
    RETURNING id INTO v_payment;

    IF cardinality(p_lot_ids) > 0 THEN
        UPDATE wallet_points_lots l SET remaining = l.remaining - t.take
          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take)
         WHERE l.id = t.lot_id AND l.remaining >= t.take;
        GET DIAGNOSTICS v_spent = ROW_COUNT;
        IF v_spent <> cardinality(p_lot_ids) THEN
            -- The lots were locked by wallet_lock_lots in this transaction: cannot happen.
            RAISE EXCEPTION 'payment %: % of % points lots could not be spent',
                p_reference, cardinality(p_lot_ids) - v_spent, cardinality(p_lot_ids);
        END IF;
        INSERT INTO payment_lot_uses (payment_id, lot_id, amount, returned)
        SELECT v_payment, t.lot_id, t.take, 0
          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take);
    END IF;

    IF p_reward_lot_amount IS NOT NULL THEN
        INSERT INTO wallet_points_lots (resident_id, amount, remaining, granted_at, expires_at,
                                        campaign_id, entry_id, source_reference)
        VALUES (p_resident, p_reward_lot_amount, p_reward_lot_amount, p_paid_at,
                p_reward_lot_expires, p_reward_lot_campaign, v_entry, p_reward_lot_reference);
    END IF;

    INSERT INTO wallet_transactions (resident_id, reference, kind, amount, money_change,
                                     points_change, counterparty, message, entry_id, created_at)
    SELECT p_resident, h.reference, h.kind, h.amount, h.money, h.points, h.counterparty, NULL,
           v_entry, p_paid_at
      FROM unnest(p_history_references, p_history_kinds, p_history_amounts, p_history_money,
                  p_history_points, p_history_counterparties)
           WITH ORDINALITY AS h(reference, kind, amount, money, points, counterparty, ord)
     ORDER BY h.ord;

    INSERT INTO outbox_events (topic, payload, created_at)
    VALUES (p_outbox_topic, p_outbox_payload, clock_timestamp());

    entry_id := v_entry;
    created := v_created;
    payment_id := v_payment;
    RETURN NEXT;
END $$;
"""
)

_WALLET_AND_OUTBOX = (OUTBOX_EMIT, WALLET_SPEND_LOTS, WALLET_GRANT_LOT, WALLET_WRITE_HISTORY)


def upgrade() -> None:
    for function in _WALLET_AND_OUTBOX:
        op.create_entity(function)  # type: ignore[attr-defined]
    op.replace_entity(PAYMENT_RECORD)  # type: ignore[attr-defined]


def downgrade() -> None:
    op.replace_entity(PAYMENT_RECORD_0011)  # type: ignore[attr-defined]
    for function in reversed(_WALLET_AND_OUTBOX):
        op.drop_entity(function)  # type: ignore[attr-defined]
