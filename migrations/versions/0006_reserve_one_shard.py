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

import importlib

from alembic import op

from migrations.scripts import run_postgres_script

revision = "0006_reserve_one_shard"
down_revision = "0005_settlement"
branch_labels = None
depends_on = None

_previous = importlib.import_module("migrations.versions.0004_campaigns")

FAST_PATH_END = """        RAISE EXCEPTION USING ERRCODE = 'MC001';
    EXCEPTION WHEN SQLSTATE 'MC001' THEN
        NULL;
    END;
"""
WAIT_FOR_ONE_SHARD = """    -- Every shard with enough is busy (more payments in flight than shards): wait for one
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
"""
FAST_PATH_START = """    BEGIN
        UPDATE campaign_budget_shards s SET remaining = s.remaining - p_amount
          FROM (SELECT c.shard FROM campaign_budget_shards c
                 WHERE c.campaign_id = p_campaign AND c.remaining >= p_amount
                 ORDER BY (c.shard - p_home + p_shards) % p_shards
"""
HOME_SHARD_FIRST = """    BEGIN
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
"""
OLD_RESERVE = _previous._function(_previous.CAMPAIGN_RESERVE, "campaign_reserve")
NEW_RESERVE = _previous._changed(
    _previous._changed(OLD_RESERVE, FAST_PATH_START, HOME_SHARD_FIRST),
    FAST_PATH_END,
    FAST_PATH_END + WAIT_FOR_ONE_SHARD,
).replace(
    "    -- Every shard with enough is busy, or what is left is short or in crumbs: lock all the",
    "    -- No shard has enough any more (the end of the budget, or crumbs): lock all the",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        run_postgres_script(NEW_RESERVE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        run_postgres_script(OLD_RESERVE)
