"""A payment in fewer round trips: the resident's lock with their live points lots, and
everything after the campaign's reservation (the entry, the payment's rows, the outbox) in
one call each.

Every round trip of a payment is an ``await`` on a busy event loop and, once the campaign
has reserved its budget, time that a budget shard stays locked. The rules stay in Python
(which lots, how much each reward is, the legs); these functions only write what they are
given, in one transaction, and return the ids.

Revision ID: 0011_payment_round_trips
Revises: 0010_analytics_rollups
Create Date: 2026-11-23 19:40:00
"""

from __future__ import annotations

from migrations.scripts import run_postgres_script

revision = "0011_payment_round_trips"
down_revision = "0010_analytics_rollups"
branch_labels = None
depends_on = None

POSTGRES_UP = r"""
-- The payer's row lock (one resident's payments run one at a time) and the live points
-- lots it may spend, oldest expiry first, locked too. A resident with no row is an error.
CREATE FUNCTION wallet_lock_lots(p_resident bigint, p_now timestamptz)
RETURNS TABLE (lot_id bigint, remaining bigint) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM residents WHERE user_id = p_resident FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'resident % has no row to lock', p_resident;
    END IF;
    RETURN QUERY
        SELECT l.id, l.remaining FROM wallet_points_lots l
         WHERE l.resident_id = p_resident AND l.remaining > 0 AND l.expires_at > p_now
         ORDER BY l.expires_at, l.id
           FOR UPDATE;
END $$;

-- Post the payment's entry (ledger_post: its errors pass through unchanged) and write the
-- payment, the points it spent from each lot, the reward's new lot, the history lines
-- (given newest first; each gets the entry's id) and the outbox fact.
CREATE FUNCTION payment_record(
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

POSTGRES_DOWN = r"""
DROP FUNCTION IF EXISTS payment_record(
    text, text, text, text, text, timestamptz, text[], bigint[], timestamptz, text, bigint,
    bigint, bigint,
    bigint, bigint, text, bigint, bigint, bigint, boolean, bigint[], bigint[], bigint, bigint,
    timestamptz, text, text[], text[], bigint[], bigint[], bigint[], text[], text, text);
DROP FUNCTION IF EXISTS wallet_lock_lots(bigint, timestamptz);
"""


def upgrade() -> None:
    run_postgres_script(POSTGRES_UP)


def downgrade() -> None:
    run_postgres_script(POSTGRES_DOWN)
