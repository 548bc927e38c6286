-- A payment's campaign work in one round trip: caps against the resident's tallies, budget
-- reservations (campaign_reserve, in campaign id order), tallies, and the reward rows.
CREATE OR REPLACE FUNCTION public.campaign_grant(
    p_payment text, p_resident bigint, p_merchant bigint, p_street bigint, p_category text,
    p_store_type text, p_district text, p_amount bigint, p_paid_at timestamptz,
    p_month text, p_shards int,
    p_points_campaign bigint, p_points bigint, p_points_deferred boolean,
    p_monthly_cap bigint, p_campaign_cap bigint,
    p_cashback_campaign bigint, p_cashback bigint, p_cashback_deferred boolean
) RETURNS TABLE (points bigint, cashback bigint, exhausted bigint[]) LANGUAGE plpgsql AS $$
DECLARE
    v_capped boolean := p_monthly_cap IS NOT NULL OR p_campaign_cap IS NOT NULL;
    v_month bigint;
    v_total bigint;
    v_id bigint;
    v_want_points bigint;
    v_want_cashback bigint;
    v_got record;
BEGIN
    points := 0;
    cashback := 0;
    exhausted := '{}';
    IF p_points_campaign IS NOT NULL AND p_points > 0 AND v_capped THEN
        -- Safe to read then write: the payment holds the resident's row lock.
        SELECT coalesce(sum(t.amount) FILTER (WHERE t.month = p_month), 0),
               coalesce(sum(t.amount), 0)
          INTO v_month, v_total
          FROM campaign_resident_tallies t
         WHERE t.campaign_id = p_points_campaign AND t.resident_id = p_resident;
        IF p_monthly_cap IS NOT NULL THEN
            p_points := least(p_points, greatest(0, p_monthly_cap - v_month));
        END IF;
        IF p_campaign_cap IS NOT NULL THEN
            p_points := least(p_points, greatest(0, p_campaign_cap - v_total));
        END IF;
    END IF;
    FOR v_id IN SELECT DISTINCT c FROM unnest(ARRAY[p_points_campaign, p_cashback_campaign]) c
                 WHERE c IS NOT NULL ORDER BY c LOOP
        v_want_points := CASE WHEN v_id = p_points_campaign THEN p_points ELSE 0 END;
        v_want_cashback := CASE WHEN v_id = p_cashback_campaign THEN p_cashback ELSE 0 END;
        CONTINUE WHEN v_want_points + v_want_cashback <= 0;
        SELECT * INTO v_got FROM campaign_reserve(
            v_id, v_want_points + v_want_cashback, (p_resident % p_shards)::int, p_shards);
        IF v_got.exhausted THEN
            exhausted := exhausted || v_id;
        END IF;
        -- Short of budget: the resident's points first, the shop's cashback from the rest.
        v_want_points := least(v_want_points, v_got.reserved);
        v_want_cashback := v_got.reserved - v_want_points;
        points := points + v_want_points;
        cashback := cashback + v_want_cashback;
        IF v_want_points > 0 AND v_capped THEN
            INSERT INTO campaign_resident_tallies AS t (campaign_id, resident_id, month, amount)
            VALUES (v_id, p_resident, p_month, v_want_points)
            ON CONFLICT (campaign_id, resident_id, month)
            DO UPDATE SET amount = t.amount + EXCLUDED.amount;
        END IF;
        INSERT INTO campaign_rewards (
            campaign_id, payment_reference, kind, status, resident_id, merchant_id,
            shopping_street_id, category, store_type, district_id, payment_amount, amount,
            revoked, unrecovered, month, paid_at, granted_at)
        SELECT v_id, p_payment, r.kind, CASE WHEN r.deferred THEN 'pending' ELSE 'granted' END,
               p_resident, p_merchant, p_street, p_category, p_store_type, p_district,
               p_amount, r.amount, 0, 0, p_month, p_paid_at,
               CASE WHEN r.deferred THEN NULL ELSE p_paid_at END
          FROM (VALUES ('resident', v_want_points, p_points_deferred),
                       ('merchant', v_want_cashback, p_cashback_deferred)) r(kind, amount, deferred)
         WHERE r.amount > 0;
    END LOOP;
    RETURN NEXT;
END $$;
