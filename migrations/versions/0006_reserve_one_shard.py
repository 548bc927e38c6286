"""A reward whose budget shards are all busy waits for one shard, not for all of them;
and it tries the payer's own shard by its key before scanning the others.

``campaign_reserve`` first takes the first free shard with enough (``SKIP LOCKED``). Under
load, more payments are in flight than there are shards, and a shard stays locked until
its payment commits; the old second step then locked every shard in order, which made
every such payment wait for all the others: the load test measured 80 payments/s with 64
concurrent payers. Now the second step waits for one shard that has enough (the payer's
own first), and only when no shard has enough left (the end of a budget) does it lock
them all and take what is left.

Revision ID: 0006_reserve_one_shard
Revises: 0005_settlement
Create Date: 2026-11-23 14:40:00
"""

from __future__ import annotations

from migrations.scripts import run_postgres_script

revision = "0006_reserve_one_shard"
down_revision = "0005_settlement"
branch_labels = None
depends_on = None

# The function as revision 0004 installed it (restored by the downgrade).
OLD_RESERVE = r"""
CREATE OR REPLACE FUNCTION campaign_reserve(p_campaign bigint, p_amount bigint, p_home int, p_shards int)
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
    -- Every shard with enough is busy, or what is left is short or in crumbs: lock all the
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
"""

# The payer's own shard first, by its key; then a wait for one shard with enough; only when
# no shard has enough left, all of them locked in order.
NEW_RESERVE = r"""
CREATE OR REPLACE FUNCTION campaign_reserve(p_campaign bigint, p_amount bigint, p_home int, p_shards int)
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
"""


def upgrade() -> None:
    run_postgres_script(NEW_RESERVE)


def downgrade() -> None:
    run_postgres_script(OLD_RESERVE)
