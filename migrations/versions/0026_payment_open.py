"""A QR payment in fewer round trips (issue 20): the resident's Idempotency-Key claim, the
shop read and the payer's lock in one first call (``payment_open``), and the answer stored by
the payment's last call (``payment_record`` takes ``p_answer_*``).

- ``idempotency_claim`` / ``idempotency_answer``: the claim and the store every
  money-moving route uses (machipay/idempotency.py), now functions so that the payment path
  can call them inside its own calls.
- ``merchant_scanned``: the shop a QR names, as the payment path and the resolver read it.
- ``payment_record`` has three new arguments: a new signature, so the old function is dropped.
- ``wallet_spend_lots`` updates lot by lot by primary key: its UPDATE joined to ``unnest()``
  was planned again on every call (pg_stat_statements: about 0.09 ms of a payment).

Revision ID: 0026_payment_open
Revises: 0025_dp_fact_clamp
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

from alembic import op
from alembic_utils.pg_function import PGFunction

revision = "0026_payment_open"
down_revision = "0025_dp_fact_clamp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    public_payment_record = PGFunction(
        schema="public",
        signature="payment_record(p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text, p_created_at timestamp with time zone, p_codes text[], p_amounts bigint[], p_paid_at timestamp with time zone, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint, p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_taken_by bigint, p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean, p_lot_ids bigint[], p_lot_takes bigint[], p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamp with time zone, p_reward_lot_reference text, p_history_references text[], p_history_kinds text[], p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[], p_outbox_topic text, p_outbox_payload text)",
        definition="returns TABLE(entry_id bigint, created boolean, payment_id bigint)\n LANGUAGE plpgsql\nAS $function$\nDECLARE\n    v_entry bigint;\n    v_created boolean;\n    v_payment bigint;\nBEGIN\n    SELECT p.entry_id, p.created INTO v_entry, v_created\n      FROM ledger_post(p_key, p_kind, p_memo, NULL, p_fingerprint, p_hash, p_created_at,\n                       p_codes, p_amounts) p;\n\n    INSERT INTO payments (reference, resident_id, merchant_id, amount, points_used, money_used,\n                          method, charge_id, taken_by, entry_id, resident_reward,\n                          merchant_cashback, rewards_granted, refunded_amount, refunded_points,\n                          created_at)\n    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,\n            p_method, p_charge, p_taken_by, v_entry, p_resident_reward, p_merchant_cashback,\n            p_rewards_granted, 0, 0, p_paid_at)\n    RETURNING id INTO v_payment;\n\n    IF cardinality(p_lot_ids) > 0 THEN\n        PERFORM wallet_spend_lots(p_reference, p_lot_ids, p_lot_takes);\n        INSERT INTO payment_lot_uses (payment_id, lot_id, amount, returned)\n        SELECT v_payment, t.lot_id, t.take, 0\n          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take);\n    END IF;\n\n    IF p_reward_lot_amount IS NOT NULL THEN\n        PERFORM wallet_grant_lot(p_resident, p_reward_lot_amount, p_paid_at,\n                                 p_reward_lot_expires, p_reward_lot_campaign, v_entry,\n                                 p_reward_lot_reference);\n    END IF;\n\n    PERFORM wallet_write_history(p_resident, v_entry, p_paid_at, p_history_references,\n                                 p_history_kinds, p_history_amounts, p_history_money,\n                                 p_history_points, p_history_counterparties);\n\n    PERFORM outbox_emit(p_outbox_topic, p_outbox_payload);\n\n    entry_id := v_entry;\n    created := v_created;\n    payment_id := v_payment;\n    RETURN NEXT;\nEND $function$",
    )
    op.drop_entity(public_payment_record)  # type: ignore[attr-defined]

    public_idempotency_answer = PGFunction(
        schema="public",
        signature="idempotency_answer( p_record_id bigint, p_status integer, p_body text )",
        definition="returns void LANGUAGE plpgsql AS $$\nBEGIN\n    UPDATE idempotency_keys SET status_code = p_status, response_body = p_body\n     WHERE id = p_record_id;\nEND $$",
    )
    op.create_entity(public_idempotency_answer)  # type: ignore[attr-defined]

    public_idempotency_claim = PGFunction(
        schema="public",
        signature="idempotency_claim( p_scope text, p_key text, p_request_hash text, p_created_at timestamptz )",
        definition="returns TABLE (record_id bigint, stored_hash text, stored_status integer, stored_body text)\nLANGUAGE plpgsql AS $$\nBEGIN\n    INSERT INTO idempotency_keys (scope, key, request_hash, created_at)\n    VALUES (p_scope, p_key, p_request_hash, p_created_at)\n    ON CONFLICT (scope, key) DO NOTHING\n    RETURNING id INTO record_id;\n    IF record_id IS NULL THEN\n        SELECT k.request_hash, k.status_code, k.response_body\n          INTO stored_hash, stored_status, stored_body\n          FROM idempotency_keys k\n         WHERE k.scope = p_scope AND k.key = p_key;\n    END IF;\n    RETURN NEXT;\nEND $$",
    )
    op.create_entity(public_idempotency_claim)  # type: ignore[attr-defined]

    public_wallet_spend_lots = PGFunction(
        schema="public",
        signature="wallet_spend_lots(p_reference text, p_lot_ids bigint[], p_takes bigint[])",
        definition="returns void LANGUAGE plpgsql AS $$\nBEGIN\n    -- One primary-key UPDATE per lot (a payment spends one or two)\\: a statement whose\n    -- cached generic plan serves every call, where an UPDATE joined to unnest() of the\n    -- arrays was planned again on every call (about 0.09 ms a payment, pg_stat_statements).\n    FOR i IN 1 .. coalesce(cardinality(p_lot_ids), 0) LOOP\n        UPDATE wallet_points_lots SET remaining = remaining - p_takes[i]\n         WHERE id = p_lot_ids[i] AND remaining >= p_takes[i];\n        IF NOT FOUND THEN\n            -- The lots were locked by wallet_lock_lots in this transaction\\: cannot happen.\n            RAISE EXCEPTION 'payment %\\: points lot % could not be spent (% points)',\n                p_reference, p_lot_ids[i], p_takes[i];\n        END IF;\n    END LOOP;\nEND $$",
    )
    op.replace_entity(public_wallet_spend_lots)  # type: ignore[attr-defined]

    public_payment_open = PGFunction(
        schema="public",
        signature="payment_open( p_scope text, p_key text, p_request_hash text, p_created_at timestamptz, p_public_id text, p_resident bigint, p_now timestamptz )",
        definition="returns TABLE (\n    record_id bigint, stored_hash text, stored_status integer, stored_body text,\n    merchant_id bigint, merchant_name text, shopping_street_id bigint, category text,\n    store_type text, merchant_status text, street_name text, district_id text,\n    lot_ids bigint[], lot_remaining bigint[]\n) LANGUAGE plpgsql AS $$\nBEGIN\n    SELECT c.record_id, c.stored_hash, c.stored_status, c.stored_body\n      INTO record_id, stored_hash, stored_status, stored_body\n      FROM idempotency_claim(p_scope, p_key, p_request_hash, p_created_at) c;\n    IF record_id IS NULL THEN\n        RETURN NEXT;\n        RETURN;\n    END IF;\n\n    SELECT s.merchant_id, s.name, s.shopping_street_id, s.category, s.store_type, s.status,\n           s.street_name, s.district_id\n      INTO merchant_id, merchant_name, shopping_street_id, category, store_type,\n           merchant_status, street_name, district_id\n      FROM merchant_scanned(p_public_id) s;\n    IF merchant_id IS NULL OR merchant_status <> 'active' THEN\n        RETURN NEXT;\n        RETURN;\n    END IF;\n\n    -- Oldest expiry first, as wallet_lock_lots returns them.\n    SELECT coalesce(array_agg(l.lot_id ORDER BY l.n), '{}'),\n           coalesce(array_agg(l.remaining ORDER BY l.n), '{}')\n      INTO lot_ids, lot_remaining\n      FROM wallet_lock_lots(p_resident, p_now) WITH ORDINALITY AS l(lot_id, remaining, n);\n    RETURN NEXT;\nEND $$",
    )
    op.create_entity(public_payment_open)  # type: ignore[attr-defined]

    public_payment_record = PGFunction(
        schema="public",
        signature="payment_record( p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text, p_created_at timestamptz, p_codes text[], p_amounts bigint[], p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint, p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_taken_by bigint, p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean, p_lot_ids bigint[], p_lot_takes bigint[], p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz, p_reward_lot_reference text, p_history_references text[], p_history_kinds text[], p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[], p_outbox_topic text, p_outbox_payload text, p_answer_record bigint, p_answer_status integer, p_answer_body text )",
        definition="returns TABLE (entry_id bigint, created boolean, payment_id bigint) LANGUAGE plpgsql AS $$\nDECLARE\n    v_entry bigint;\n    v_created boolean;\n    v_payment bigint;\nBEGIN\n    SELECT p.entry_id, p.created INTO v_entry, v_created\n      FROM ledger_post(p_key, p_kind, p_memo, NULL, p_fingerprint, p_hash, p_created_at,\n                       p_codes, p_amounts) p;\n\n    INSERT INTO payments (reference, resident_id, merchant_id, amount, points_used, money_used,\n                          method, charge_id, taken_by, entry_id, resident_reward,\n                          merchant_cashback, rewards_granted, refunded_amount, refunded_points,\n                          created_at)\n    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,\n            p_method, p_charge, p_taken_by, v_entry, p_resident_reward, p_merchant_cashback,\n            p_rewards_granted, 0, 0, p_paid_at)\n    RETURNING id INTO v_payment;\n\n    IF cardinality(p_lot_ids) > 0 THEN\n        PERFORM wallet_spend_lots(p_reference, p_lot_ids, p_lot_takes);\n        INSERT INTO payment_lot_uses (payment_id, lot_id, amount, returned)\n        SELECT v_payment, t.lot_id, t.take, 0\n          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take);\n    END IF;\n\n    IF p_reward_lot_amount IS NOT NULL THEN\n        PERFORM wallet_grant_lot(p_resident, p_reward_lot_amount, p_paid_at,\n                                 p_reward_lot_expires, p_reward_lot_campaign, v_entry,\n                                 p_reward_lot_reference);\n    END IF;\n\n    PERFORM wallet_write_history(p_resident, v_entry, p_paid_at, p_history_references,\n                                 p_history_kinds, p_history_amounts, p_history_money,\n                                 p_history_points, p_history_counterparties);\n\n    PERFORM outbox_emit(p_outbox_topic, p_outbox_payload);\n\n    IF p_answer_record IS NOT NULL THEN\n        PERFORM idempotency_answer(p_answer_record, p_answer_status, p_answer_body);\n    END IF;\n\n    entry_id := v_entry;\n    created := v_created;\n    payment_id := v_payment;\n    RETURN NEXT;\nEND $$",
    )
    op.create_entity(public_payment_record)  # type: ignore[attr-defined]

    public_merchant_scanned = PGFunction(
        schema="public",
        signature="merchant_scanned(p_public_id text)",
        definition="returns TABLE (\n    merchant_id bigint, name text, shopping_street_id bigint, category text, store_type text,\n    status text, street_name text, district_id text\n) LANGUAGE sql STABLE AS $$\n    SELECT m.id, m.name::text, m.shopping_street_id, m.category_code::text, m.store_type::text,\n           m.status::text, s.name::text, s.district_id::text\n      FROM merchants m\n      LEFT JOIN ward_shopping_streets s ON s.id = m.shopping_street_id\n     WHERE m.public_id = p_public_id;\n$$",
    )
    op.create_entity(public_merchant_scanned)  # type: ignore[attr-defined]


def downgrade() -> None:
    public_payment_record = PGFunction(
        schema="public",
        signature="payment_record(p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text, p_created_at timestamp with time zone, p_codes text[], p_amounts bigint[], p_paid_at timestamp with time zone, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint, p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_taken_by bigint, p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean, p_lot_ids bigint[], p_lot_takes bigint[], p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamp with time zone, p_reward_lot_reference text, p_history_references text[], p_history_kinds text[], p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[], p_outbox_topic text, p_outbox_payload text)",
        definition="returns TABLE(entry_id bigint, created boolean, payment_id bigint)\n LANGUAGE plpgsql\nAS $function$\nDECLARE\n    v_entry bigint;\n    v_created boolean;\n    v_payment bigint;\nBEGIN\n    SELECT p.entry_id, p.created INTO v_entry, v_created\n      FROM ledger_post(p_key, p_kind, p_memo, NULL, p_fingerprint, p_hash, p_created_at,\n                       p_codes, p_amounts) p;\n\n    INSERT INTO payments (reference, resident_id, merchant_id, amount, points_used, money_used,\n                          method, charge_id, taken_by, entry_id, resident_reward,\n                          merchant_cashback, rewards_granted, refunded_amount, refunded_points,\n                          created_at)\n    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,\n            p_method, p_charge, p_taken_by, v_entry, p_resident_reward, p_merchant_cashback,\n            p_rewards_granted, 0, 0, p_paid_at)\n    RETURNING id INTO v_payment;\n\n    IF cardinality(p_lot_ids) > 0 THEN\n        PERFORM wallet_spend_lots(p_reference, p_lot_ids, p_lot_takes);\n        INSERT INTO payment_lot_uses (payment_id, lot_id, amount, returned)\n        SELECT v_payment, t.lot_id, t.take, 0\n          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take);\n    END IF;\n\n    IF p_reward_lot_amount IS NOT NULL THEN\n        PERFORM wallet_grant_lot(p_resident, p_reward_lot_amount, p_paid_at,\n                                 p_reward_lot_expires, p_reward_lot_campaign, v_entry,\n                                 p_reward_lot_reference);\n    END IF;\n\n    PERFORM wallet_write_history(p_resident, v_entry, p_paid_at, p_history_references,\n                                 p_history_kinds, p_history_amounts, p_history_money,\n                                 p_history_points, p_history_counterparties);\n\n    PERFORM outbox_emit(p_outbox_topic, p_outbox_payload);\n\n    entry_id := v_entry;\n    created := v_created;\n    payment_id := v_payment;\n    RETURN NEXT;\nEND $function$",
    )
    op.create_entity(public_payment_record)  # type: ignore[attr-defined]

    public_merchant_scanned = PGFunction(
        schema="public",
        signature="merchant_scanned(p_public_id text)",
        definition="returns TABLE (\n    merchant_id bigint, name text, shopping_street_id bigint, category text, store_type text,\n    status text, street_name text, district_id text\n) LANGUAGE sql STABLE AS $$\n    SELECT m.id, m.name::text, m.shopping_street_id, m.category_code::text, m.store_type::text,\n           m.status::text, s.name::text, s.district_id::text\n      FROM merchants m\n      LEFT JOIN ward_shopping_streets s ON s.id = m.shopping_street_id\n     WHERE m.public_id = p_public_id;\n$$",
    )
    op.drop_entity(public_merchant_scanned)  # type: ignore[attr-defined]

    public_payment_record = PGFunction(
        schema="public",
        signature="payment_record( p_key text, p_kind text, p_memo text, p_fingerprint text, p_hash text, p_created_at timestamptz, p_codes text[], p_amounts bigint[], p_paid_at timestamptz, p_reference text, p_resident bigint, p_merchant bigint, p_amount bigint, p_points_used bigint, p_money_used bigint, p_method text, p_charge bigint, p_taken_by bigint, p_resident_reward bigint, p_merchant_cashback bigint, p_rewards_granted boolean, p_lot_ids bigint[], p_lot_takes bigint[], p_reward_lot_amount bigint, p_reward_lot_campaign bigint, p_reward_lot_expires timestamptz, p_reward_lot_reference text, p_history_references text[], p_history_kinds text[], p_history_amounts bigint[], p_history_money bigint[], p_history_points bigint[], p_history_counterparties text[], p_outbox_topic text, p_outbox_payload text, p_answer_record bigint, p_answer_status integer, p_answer_body text )",
        definition="returns TABLE (entry_id bigint, created boolean, payment_id bigint) LANGUAGE plpgsql AS $$\nDECLARE\n    v_entry bigint;\n    v_created boolean;\n    v_payment bigint;\nBEGIN\n    SELECT p.entry_id, p.created INTO v_entry, v_created\n      FROM ledger_post(p_key, p_kind, p_memo, NULL, p_fingerprint, p_hash, p_created_at,\n                       p_codes, p_amounts) p;\n\n    INSERT INTO payments (reference, resident_id, merchant_id, amount, points_used, money_used,\n                          method, charge_id, taken_by, entry_id, resident_reward,\n                          merchant_cashback, rewards_granted, refunded_amount, refunded_points,\n                          created_at)\n    VALUES (p_reference, p_resident, p_merchant, p_amount, p_points_used, p_money_used,\n            p_method, p_charge, p_taken_by, v_entry, p_resident_reward, p_merchant_cashback,\n            p_rewards_granted, 0, 0, p_paid_at)\n    RETURNING id INTO v_payment;\n\n    IF cardinality(p_lot_ids) > 0 THEN\n        PERFORM wallet_spend_lots(p_reference, p_lot_ids, p_lot_takes);\n        INSERT INTO payment_lot_uses (payment_id, lot_id, amount, returned)\n        SELECT v_payment, t.lot_id, t.take, 0\n          FROM unnest(p_lot_ids, p_lot_takes) AS t(lot_id, take);\n    END IF;\n\n    IF p_reward_lot_amount IS NOT NULL THEN\n        PERFORM wallet_grant_lot(p_resident, p_reward_lot_amount, p_paid_at,\n                                 p_reward_lot_expires, p_reward_lot_campaign, v_entry,\n                                 p_reward_lot_reference);\n    END IF;\n\n    PERFORM wallet_write_history(p_resident, v_entry, p_paid_at, p_history_references,\n                                 p_history_kinds, p_history_amounts, p_history_money,\n                                 p_history_points, p_history_counterparties);\n\n    PERFORM outbox_emit(p_outbox_topic, p_outbox_payload);\n\n    IF p_answer_record IS NOT NULL THEN\n        PERFORM idempotency_answer(p_answer_record, p_answer_status, p_answer_body);\n    END IF;\n\n    entry_id := v_entry;\n    created := v_created;\n    payment_id := v_payment;\n    RETURN NEXT;\nEND $$",
    )
    op.drop_entity(public_payment_record)  # type: ignore[attr-defined]

    public_payment_open = PGFunction(
        schema="public",
        signature="payment_open( p_scope text, p_key text, p_request_hash text, p_created_at timestamptz, p_public_id text, p_resident bigint, p_now timestamptz )",
        definition="returns TABLE (\n    record_id bigint, stored_hash text, stored_status integer, stored_body text,\n    merchant_id bigint, merchant_name text, shopping_street_id bigint, category text,\n    store_type text, merchant_status text, street_name text, district_id text,\n    lot_ids bigint[], lot_remaining bigint[]\n) LANGUAGE plpgsql AS $$\nBEGIN\n    SELECT c.record_id, c.stored_hash, c.stored_status, c.stored_body\n      INTO record_id, stored_hash, stored_status, stored_body\n      FROM idempotency_claim(p_scope, p_key, p_request_hash, p_created_at) c;\n    IF record_id IS NULL THEN\n        RETURN NEXT;\n        RETURN;\n    END IF;\n\n    SELECT s.merchant_id, s.name, s.shopping_street_id, s.category, s.store_type, s.status,\n           s.street_name, s.district_id\n      INTO merchant_id, merchant_name, shopping_street_id, category, store_type,\n           merchant_status, street_name, district_id\n      FROM merchant_scanned(p_public_id) s;\n    IF merchant_id IS NULL OR merchant_status <> 'active' THEN\n        RETURN NEXT;\n        RETURN;\n    END IF;\n\n    -- Oldest expiry first, as wallet_lock_lots returns them.\n    SELECT coalesce(array_agg(l.lot_id ORDER BY l.n), '{}'),\n           coalesce(array_agg(l.remaining ORDER BY l.n), '{}')\n      INTO lot_ids, lot_remaining\n      FROM wallet_lock_lots(p_resident, p_now) WITH ORDINALITY AS l(lot_id, remaining, n);\n    RETURN NEXT;\nEND $$",
    )
    op.drop_entity(public_payment_open)  # type: ignore[attr-defined]

    public_wallet_spend_lots = PGFunction(
        schema="public",
        signature="wallet_spend_lots(p_reference text, p_lot_ids bigint[], p_takes bigint[])",
        definition="returns void\n LANGUAGE plpgsql\nAS $function$\nDECLARE\n    v_spent int;\nBEGIN\n    UPDATE wallet_points_lots l SET remaining = l.remaining - t.take\n      FROM unnest(p_lot_ids, p_takes) AS t(lot_id, take)\n     WHERE l.id = t.lot_id AND l.remaining >= t.take;\n    GET DIAGNOSTICS v_spent = ROW_COUNT;\n    IF v_spent <> cardinality(p_lot_ids) THEN\n        -- The lots were locked by wallet_lock_lots in this transaction\\: cannot happen.\n        RAISE EXCEPTION 'payment %\\: % of % points lots could not be spent',\n            p_reference, cardinality(p_lot_ids) - v_spent, cardinality(p_lot_ids);\n    END IF;\nEND $function$",
    )
    op.replace_entity(public_wallet_spend_lots)  # type: ignore[attr-defined]
    public_idempotency_claim = PGFunction(
        schema="public",
        signature="idempotency_claim( p_scope text, p_key text, p_request_hash text, p_created_at timestamptz )",
        definition="returns TABLE (record_id bigint, stored_hash text, stored_status integer, stored_body text)\nLANGUAGE plpgsql AS $$\nBEGIN\n    INSERT INTO idempotency_keys (scope, key, request_hash, created_at)\n    VALUES (p_scope, p_key, p_request_hash, p_created_at)\n    ON CONFLICT (scope, key) DO NOTHING\n    RETURNING id INTO record_id;\n    IF record_id IS NULL THEN\n        SELECT k.request_hash, k.status_code, k.response_body\n          INTO stored_hash, stored_status, stored_body\n          FROM idempotency_keys k\n         WHERE k.scope = p_scope AND k.key = p_key;\n    END IF;\n    RETURN NEXT;\nEND $$",
    )
    op.drop_entity(public_idempotency_claim)  # type: ignore[attr-defined]

    public_idempotency_answer = PGFunction(
        schema="public",
        signature="idempotency_answer( p_record_id bigint, p_status integer, p_body text )",
        definition="returns void LANGUAGE plpgsql AS $$\nBEGIN\n    UPDATE idempotency_keys SET status_code = p_status, response_body = p_body\n     WHERE id = p_record_id;\nEND $$",
    )
    op.drop_entity(public_idempotency_answer)  # type: ignore[attr-defined]
