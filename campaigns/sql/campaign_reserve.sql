-- Reserve a reward from a campaign's budget shards in one round trip (DESIGN.md 3.3): the
-- payer's own shard by its key, else the first free one with enough, else a wait for one
-- with enough; only when no shard has enough left are they all locked in shard order, so
-- the last yen goes exactly once.
CREATE OR REPLACE FUNCTION public.campaign_reserve(p_campaign bigint, p_amount bigint, p_home int, p_shards int)
RETURNS TABLE (reserved bigint, exhausted boolean) LANGUAGE plpgsql AS $$
DECLARE
    v_shard int;
    v_needed bigint := p_amount;
    v_left bigint := 0;
    v_take bigint;
    v_timeout text;
    r record;
BEGIN
    reserved := 0;
    exhausted := false;
    IF NOT EXISTS (SELECT 1 FROM campaigns WHERE id = p_campaign AND status = 'approved') THEN
        RETURN NEXT;
        RETURN;
    END IF;
    -- The usual case: the first shard, counting from the payer's own, that has enough and
    -- that no other transaction holds (never waits). In a subtransaction: a row locked and
    -- then found short on recheck is unlocked again when it is rolled back, so no stray
    -- lock is held while the slow path below waits for shards in order.
    BEGIN
        -- The payer's own shard, found by its key: one row, nothing to sort.
        UPDATE campaign_budget_shards s SET remaining = s.remaining - p_amount
          FROM (SELECT c.shard FROM campaign_budget_shards c
                 WHERE c.campaign_id = p_campaign AND c.shard = p_home
                   AND c.remaining >= p_amount
                 FOR UPDATE SKIP LOCKED) pick
         WHERE s.campaign_id = p_campaign AND s.shard = pick.shard AND s.remaining >= p_amount
        RETURNING s.shard INTO v_shard;
        IF FOUND THEN
            reserved := p_amount;
            RETURN NEXT;
            RETURN;
        END IF;
        UPDATE campaign_budget_shards s SET remaining = s.remaining - p_amount
          FROM (SELECT c.shard FROM campaign_budget_shards c
                 WHERE c.campaign_id = p_campaign AND c.remaining >= p_amount
                 ORDER BY (c.shard - p_home + p_shards) % p_shards
                 LIMIT 1 FOR UPDATE SKIP LOCKED) pick
         WHERE s.campaign_id = p_campaign AND s.shard = pick.shard AND s.remaining >= p_amount
        RETURNING s.shard INTO v_shard;
        IF FOUND THEN
            reserved := p_amount;
            RETURN NEXT;
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'MC001';
    EXCEPTION WHEN SQLSTATE 'MC001' THEN
        NULL;
    END;
    -- Every shard with enough is busy (more payments in flight than shards): wait for one
    -- of them, the payer's own first, as a payment waits for any row it needs. After the
    -- wait the shard is checked again; if it no longer has enough, fall through.
    BEGIN
        UPDATE campaign_budget_shards s SET remaining = s.remaining - p_amount
          FROM (SELECT c.shard FROM campaign_budget_shards c
                 WHERE c.campaign_id = p_campaign AND c.remaining >= p_amount
                 ORDER BY (c.shard - p_home + p_shards) % p_shards
                 LIMIT 1) pick
         WHERE s.campaign_id = p_campaign AND s.shard = pick.shard AND s.remaining >= p_amount
        RETURNING s.shard INTO v_shard;
        IF FOUND THEN
            reserved := p_amount;
            RETURN NEXT;
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'MC001';
    EXCEPTION WHEN SQLSTATE 'MC001' THEN
        NULL;
    END;
    -- No shard has enough any more (the end of the budget, or crumbs): lock all the
    -- shards in shard order (so two of us never wait crosswise), then take what is needed,
    -- or all there is. The last yen goes exactly once.
    -- Near the end of a budget these waits queue up one behind the other for a moment;
    -- give them longer than the usual lock_timeout before calling it busy.
    v_timeout := current_setting('lock_timeout');
    PERFORM set_config('lock_timeout', '10s', true);
    FOR r IN SELECT c.shard FROM campaign_budget_shards c
              WHERE c.campaign_id = p_campaign ORDER BY c.shard FOR UPDATE LOOP
    END LOOP;
    PERFORM set_config('lock_timeout', v_timeout, true);
    -- Re-read after the wait: the campaign may have been ended meanwhile.
    IF NOT EXISTS (SELECT 1 FROM campaigns WHERE id = p_campaign AND status = 'approved') THEN
        RETURN NEXT;
        RETURN;
    END IF;
    FOR r IN SELECT c.shard, c.remaining FROM campaign_budget_shards c
              WHERE c.campaign_id = p_campaign ORDER BY c.shard LOOP
        v_take := least(r.remaining, v_needed);
        IF v_take > 0 THEN
            UPDATE campaign_budget_shards SET remaining = remaining - v_take
             WHERE campaign_id = p_campaign AND shard = r.shard;
            v_needed := v_needed - v_take;
        END IF;
        v_left := v_left + r.remaining - v_take;
    END LOOP;
    reserved := p_amount - v_needed;
    exhausted := v_left = 0;
    RETURN NEXT;
END $$;
