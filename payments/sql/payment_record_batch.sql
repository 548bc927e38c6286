-- Group commit's last call: payment_record for each payment of a batch, in one round trip and
-- (with the batch's other calls) one COMMIT. Each payment's arrays arrive flattened, in order,
-- with its counts: its legs (p_leg_counts: p_codes, p_leg_amounts), the points it spends
-- (p_lot_counts: p_lot_ids, p_lot_takes) and its history lines (p_line_counts: p_history_*).
-- No subtransactions: payment_open_batch let through only payments whose funds cover them,
-- so a failure here is not a refusal; it fails the batch, and Python pays each on its own.
CREATE OR REPLACE FUNCTION public.payment_record_batch(
    p_keys text[], p_kinds text[], p_memos text[], p_fingerprints text[], p_hashes text[],
    p_created_ats timestamptz[], p_leg_counts int[], p_codes text[], p_leg_amounts bigint[],
    p_paid_ats timestamptz[], p_references text[], p_residents bigint[], p_merchants bigint[],
    p_amounts bigint[], p_points_used bigint[], p_money_used bigint[], p_methods text[],
    p_charges bigint[], p_taken_bys bigint[], p_resident_rewards bigint[],
    p_merchant_cashbacks bigint[], p_rewards_granted boolean[],
    p_lot_counts int[], p_lot_ids bigint[], p_lot_takes bigint[],
    p_reward_lot_amounts bigint[], p_reward_lot_campaigns bigint[],
    p_reward_lot_expires timestamptz[], p_reward_lot_references text[],
    p_line_counts int[], p_history_references text[], p_history_kinds text[],
    p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[],
    p_history_counterparties text[], p_outbox_topic text, p_outbox_payloads text[],
    p_answer_records bigint[], p_answer_statuses integer[], p_answer_bodies text[]
) RETURNS TABLE (ord int, entry_id bigint, created boolean, payment_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_leg int := 1;
    v_lot int := 1;
    v_line int := 1;
    v_leg_end int;
    v_lot_end int;
    v_line_end int;
BEGIN
    FOR i IN 1 .. cardinality(p_keys) LOOP
        v_leg_end := v_leg + p_leg_counts[i] - 1;
        v_lot_end := v_lot + p_lot_counts[i] - 1;
        v_line_end := v_line + p_line_counts[i] - 1;
        ord := i;
        SELECT r.entry_id, r.created, r.payment_id INTO entry_id, created, payment_id
          FROM payment_record(
              p_keys[i], p_kinds[i], p_memos[i], p_fingerprints[i], p_hashes[i],
              p_created_ats[i], p_codes[v_leg:v_leg_end], p_leg_amounts[v_leg:v_leg_end],
              p_paid_ats[i], p_references[i], p_residents[i], p_merchants[i], p_amounts[i],
              p_points_used[i], p_money_used[i], p_methods[i], p_charges[i], p_taken_bys[i],
              p_resident_rewards[i], p_merchant_cashbacks[i], p_rewards_granted[i],
              coalesce(p_lot_ids[v_lot:v_lot_end], '{}'),
              coalesce(p_lot_takes[v_lot:v_lot_end], '{}'),
              p_reward_lot_amounts[i], p_reward_lot_campaigns[i], p_reward_lot_expires[i],
              p_reward_lot_references[i],
              p_history_references[v_line:v_line_end], p_history_kinds[v_line:v_line_end],
              p_history_amounts[v_line:v_line_end], p_history_money[v_line:v_line_end],
              p_history_points[v_line:v_line_end],
              p_history_counterparties[v_line:v_line_end],
              p_outbox_topic, p_outbox_payloads[i],
              p_answer_records[i], p_answer_statuses[i], p_answer_bodies[i]) r;
        RETURN NEXT;
        v_leg := v_leg_end + 1;
        v_lot := v_lot_end + 1;
        v_line := v_line_end + 1;
    END LOOP;
END $$;
