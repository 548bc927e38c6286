-- Setup for pgbench_ledger_post.pgb: 10,000 funded residents in a migrated scratch database.
--   createdb ledgerprobe && MACHIPAY_DATABASE_URL=postgresql://root@127.0.0.1/ledgerprobe machipay migrate
--   psql ledgerprobe -f loadtest/pgbench_ledger_post.sql
--   pgbench -n -c 16 -j 2 -T 20 -f loadtest/pgbench_ledger_post.pgb ledgerprobe
-- It prices the ledger's database side alone (the ledger_post function, its triggers and
-- indexes) with pgbench's C client, for comparison with pgbench's tpcb-like script.
INSERT INTO ledger_accounts (code, kind, normal_side, non_negative, hot, balance, version, created_at)
SELECT 'resident:p' || i || ':money', 'liability', 'credit', true, false, 0, 0, now()
  FROM generate_series(1, 10000) AS i;
DO $$
DECLARE
    codes text[];
    amounts bigint[];
BEGIN
    FOR b IN 0..166 LOOP
        codes := ARRAY['bank:settlement'];
        amounts := ARRAY[0::bigint];
        FOR i IN (b * 60 + 1)..LEAST(b * 60 + 60, 10000) LOOP
            codes := codes || ('resident:p' || i || ':money');
            amounts := amounts || (-1000000)::bigint;
        END LOOP;
        amounts[1] := -(SELECT sum(x) FROM unnest(amounts[2:]) AS x);
        PERFORM ledger_post('fund' || b, 'topup', NULL, NULL, 'x', 'x', now(), codes, amounts);
    END LOOP;
END $$;
VACUUM ANALYZE;
