-- Group commit's campaign call: campaign_grant for each payment of a batch, in one round trip.
-- The grants run in budget-shard order (a payer's shard is resident % shards), then payer
-- order: a batch holds every shard it reserved from until COMMIT, so two batches that took
-- their shards in their own orders could deadlock; in one order they only wait. Answers one
-- row per payment with its place in the given order (ord), in the order they ran.
CREATE OR REPLACE FUNCTION public.campaign_grant_batch(
    p_payments text[], p_residents bigint[], p_merchants bigint[], p_streets bigint[],
    p_categories text[], p_store_types text[], p_districts text[], p_amounts bigint[],
    p_paid_ats timestamptz[], p_months text[], p_shards int,
    p_points_campaigns bigint[], p_points bigint[], p_points_deferred boolean[],
    p_monthly_caps bigint[], p_campaign_caps bigint[],
    p_cashback_campaigns bigint[], p_cashbacks bigint[], p_cashback_deferred boolean[]
) RETURNS TABLE (ord int, points bigint, cashback bigint, exhausted bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    i int;
BEGIN
    FOR i IN SELECT r.n FROM unnest(p_residents) WITH ORDINALITY AS r(resident, n)
              ORDER BY r.resident % p_shards, r.resident, r.n LOOP
        ord := i;
        SELECT g.points, g.cashback, g.exhausted INTO points, cashback, exhausted
          FROM campaign_grant(p_payments[i], p_residents[i], p_merchants[i], p_streets[i],
                              p_categories[i], p_store_types[i], p_districts[i], p_amounts[i],
                              p_paid_ats[i], p_months[i], p_shards, p_points_campaigns[i],
                              p_points[i], p_points_deferred[i], p_monthly_caps[i],
                              p_campaign_caps[i], p_cashback_campaigns[i], p_cashbacks[i],
                              p_cashback_deferred[i]) g;
        RETURN NEXT;
    END LOOP;
END $$;
