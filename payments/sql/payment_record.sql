-- A payment in one round trip once the campaign has reserved its budget (a shard stays
-- locked until COMMIT, so every round trip here is time it is held). Posts the entry
-- (ledger_post: its errors pass through unchanged), writes the payment and the points it
-- spent from each lot, and has each other context write its own tables through its own
-- function: the wallet its lots and history lines, the outbox the fact. The rules stay in
-- Python (which lots, the rewards, the legs); this only writes what it is given.
-- p_taken_by is the shop's user at the till (a captured code, a charge they showed); NULL
-- for the sticker. p_answer_*: the resident's Idempotency-Key claimed by payment_open and
-- the HTTP answer to store with it (known before this call: the payment's reference and time
-- are chosen in Python), so storing it costs no round trip of its own; NULL for callers that
-- store their answer themselves.
CREATE OR REPLACE FUNCTION public.payment_record(
    p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text,
    p_created_at timestamptz, p_codes text[], p_amounts bigint[],
    p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint,
    p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_taken_by bigint,
    p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean,
    p_lot_ids bigint[], p_lot_takes bigint[],
    p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz,
    p_reward_lot_reference text,
    p_history_references text[], p_history_kinds text[], p_history_amounts bigint[],
    p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[],
    p_outbox_topic text, p_outbox_payload text,
    p_answer_record bigint, p_answer_status integer, p_answer_body text
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
                          method, charge_id, taken_by, entry_id, resident_reward,
                          merchant_cashback, rewards_granted, refunded_amount, refunded_points,
                          created_at)
    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,
            p_method, p_charge, p_taken_by, v_entry, p_resident_reward, p_merchant_cashback,
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

    IF p_answer_record IS NOT NULL THEN
        PERFORM idempotency_answer(p_answer_record, p_answer_status, p_answer_body);
    END IF;

    entry_id := v_entry;
    created := v_created;
    payment_id := v_payment;
    RETURN NEXT;
END $$;
