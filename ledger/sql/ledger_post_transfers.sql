-- Post many two-leg entries (Dr one account / Cr another, each with its own key) in one
-- call, set-based: a ward benefit grants 180,000 residents, and one ledger_post per grant
-- (a plpgsql statement per leg) is several times slower than a statement per batch. The
-- rules are ledger_post's: a key posted before with the same content is a replay (its
-- entry returned, created false), with other content ML002; an unknown account ML003; a
-- non-negative account that would go below zero at any entry ML001. Non-hot accounts are
-- locked in id order, so this and ledger_post cannot deadlock; each posting carries the
-- account's balance after it and its version, in entry order. Hot accounts take the same
-- advisory locks as in ledger_post. The entries are checked for balance at COMMIT by
-- their triggers, as any entry is.
CREATE OR REPLACE FUNCTION public.ledger_post_transfers(
    p_keys text[], p_kind text, p_fingerprints text[], p_hashes text[],
    p_created_ats timestamptz[], p_debits text[], p_credits text[], p_amounts bigint[]
) RETURNS TABLE (entry_id bigint, created boolean) LANGUAGE plpgsql AS $$
DECLARE
    v_entries bigint[];
    v_problem text;
    v_leg_entries bigint[];
    v_leg_accounts bigint[];
    v_leg_amounts bigint[];
    v_leg_deltas bigint[];
    r record;
BEGIN
    -- As in ledger_post: the transaction id before the entry ids (the sealer relies on it).
    PERFORM pg_current_xact_id();

    SELECT c.code INTO v_problem
      FROM unnest(p_debits || p_credits) AS c(code)
      LEFT JOIN ledger_accounts a ON a.code = c.code
     WHERE a.id IS NULL LIMIT 1;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'ML003',
            MESSAGE = format('unknown account %s', v_problem), DETAIL = v_problem;
    END IF;

    WITH inserted AS (
        INSERT INTO ledger_entries AS e
               (idempotency_key, kind, memo, reverses_entry_id, fingerprint, content_hash,
                created_at)
        SELECT x.key, p_kind, NULL, NULL, x.fingerprint, x.hash, x.created_at
          FROM unnest(p_keys, p_fingerprints, p_hashes, p_created_ats) WITH ORDINALITY
               AS x(key, fingerprint, hash, created_at, ord)
         ORDER BY x.ord
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING e.id, e.idempotency_key
    )
    SELECT array_agg(i.id ORDER BY x.ord) INTO v_entries
      FROM unnest(p_keys) WITH ORDINALITY AS x(key, ord)
      LEFT JOIN inserted i ON i.idempotency_key = x.key;

    SELECT e.idempotency_key INTO v_problem
      FROM unnest(p_keys, p_fingerprints, v_entries) AS x(key, fingerprint, entry)
      JOIN ledger_entries e ON e.idempotency_key = x.key
     WHERE x.entry IS NULL AND e.fingerprint IS DISTINCT FROM x.fingerprint LIMIT 1;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'ML002',
            MESSAGE = 'idempotency key reused with different content', DETAIL = v_problem;
    END IF;

    -- The legs of the new entries, in entry order: the debit, then the credit.
    SELECT array_agg(l.entry ORDER BY l.ord, l.n), array_agg(a.id ORDER BY l.ord, l.n),
           array_agg(l.amount ORDER BY l.ord, l.n),
           array_agg(CASE WHEN a.normal_side = 'debit' THEN l.amount ELSE -l.amount END
                     ORDER BY l.ord, l.n)
      INTO v_leg_entries, v_leg_accounts, v_leg_amounts, v_leg_deltas
      FROM unnest(v_entries, p_debits, p_credits, p_amounts) WITH ORDINALITY
           AS x(entry, debit_code, credit_code, amount, ord)
     CROSS JOIN LATERAL (VALUES (x.entry, x.ord, 1, x.debit_code, x.amount),
                                (x.entry, x.ord, 2, x.credit_code, -x.amount))
           AS l(entry, ord, n, code, amount)
      JOIN ledger_accounts a ON a.code = l.code
     WHERE x.entry IS NOT NULL;

    IF v_leg_entries IS NOT NULL THEN
        -- Hot accounts, as ledger_post takes them: a shared lock for raises and reserved
        -- debits, the exclusive one (and a balance check) for anything lowering them.
        FOR r IN
            SELECT a.id, a.code, a.non_negative, a.debits_reserved,
                   bool_or(l.delta < 0) AS lowers, sum(l.delta) AS delta
              FROM unnest(v_leg_accounts, v_leg_deltas) AS l(account, delta)
              JOIN ledger_accounts a ON a.id = l.account
             WHERE a.hot
             GROUP BY a.id, a.code, a.non_negative, a.debits_reserved
             ORDER BY a.id
        LOOP
            IF NOT r.lowers OR r.debits_reserved THEN
                PERFORM pg_advisory_xact_lock_shared(r.id);
            ELSE
                PERFORM pg_advisory_xact_lock(r.id);
                IF r.non_negative AND ledger_hot_balance(r.id) + r.delta < 0 THEN
                    RAISE EXCEPTION USING ERRCODE = 'ML001',
                        MESSAGE = format('insufficient funds in %s', r.code), DETAIL = r.code;
                END IF;
            END IF;
        END LOOP;

        -- Other accounts: row locks in id order, then every posting's balance and version
        -- from the locked rows, the overdraft check at each entry, one UPDATE per account.
        PERFORM 1 FROM ledger_accounts a
         WHERE a.id IN (SELECT DISTINCT l.account FROM unnest(v_leg_accounts) AS l(account))
           AND NOT a.hot
         ORDER BY a.id FOR UPDATE;

        SELECT a.code INTO v_problem
          FROM (SELECT l.account,
                       sum(l.delta) OVER (PARTITION BY l.account ORDER BY l.n) AS moved
                  FROM unnest(v_leg_accounts, v_leg_deltas) WITH ORDINALITY AS l(account, delta, n)
               ) m
          JOIN ledger_accounts a ON a.id = m.account
         WHERE NOT a.hot AND a.non_negative AND a.balance + m.moved < 0 LIMIT 1;
        IF v_problem IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'ML001',
                MESSAGE = format('insufficient funds in %s', v_problem), DETAIL = v_problem;
        END IF;

        INSERT INTO ledger_postings
               (entry_id, account_id, amount, balance_after, account_version, created_at)
        SELECT l.entry, l.account, l.amount,
               CASE WHEN a.hot THEN NULL
                    ELSE a.balance + sum(l.delta) OVER (PARTITION BY l.account ORDER BY l.n) END,
               CASE WHEN a.hot THEN NULL
                    ELSE a.version + row_number() OVER (PARTITION BY l.account ORDER BY l.n) END,
               ledger_posting_time()
          FROM unnest(v_leg_entries, v_leg_accounts, v_leg_amounts, v_leg_deltas)
               WITH ORDINALITY AS l(entry, account, amount, delta, n)
          JOIN ledger_accounts a ON a.id = l.account
         ORDER BY l.n;

        UPDATE ledger_accounts a
           SET balance = a.balance + m.delta, version = a.version + m.postings
          FROM (SELECT l.account, sum(l.delta) AS delta, count(*) AS postings
                  FROM unnest(v_leg_accounts, v_leg_deltas) AS l(account, delta)
                 GROUP BY l.account) m
         WHERE a.id = m.account AND NOT a.hot;
    END IF;

    RETURN QUERY
        SELECT coalesce(x.entry, e.id), x.entry IS NOT NULL
          FROM unnest(p_keys, v_entries) WITH ORDINALITY AS x(key, entry, ord)
          LEFT JOIN ledger_entries e ON x.entry IS NULL AND e.idempotency_key = x.key
         ORDER BY x.ord;
END $$;
