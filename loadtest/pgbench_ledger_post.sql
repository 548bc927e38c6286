-- Setup for pgbench_ledger_post.pgb: 10,000 funded residents in a migrated scratch database.
--   createdb ledgerprobe && MACHIPAY_DATABASE_URL=postgresql://root@127.0.0.1/ledgerprobe machipay migrate
--   psql ledgerprobe -f loadtest/pgbench_ledger_post.sql
--   pgbench -n -c 16 -j 2 -T 20 -f loadtest/pgbench_ledger_post.pgb ledgerprobe
-- It prices the ledger's database side alone (the ledger_post function, its triggers and
-- indexes) with pgbench's C client, for comparison with pgbench's tpcb-like script.
--
-- Each resident is funded by a two-leg entry of its own (Dr bank:settlement / Cr the
-- resident), as the peer in loadtest/peer_bench.py funds each account by a transfer of its
-- own, so the benchmark starts from tables shaped like a ledger's: an entry per resident,
-- two postings each. Funding them in 167 entries of 60 legs, as this file once did, left
-- ledger_entries at 2 pages when it was analysed; every pgbench connection then planned the
-- foreign-key check of its postings (ledger_postings.entry_id -> ledger_entries.id) as a
-- sequential scan and kept that plan while the table grew under it, so the first slot
-- after funding scanned ever longer tables (14,488 scans, 76 million rows in 5 s) and ran
-- at 0.4-0.7 of the next. VACUUM (FREEZE) would not have helped: the plan follows the size.
INSERT INTO ledger_accounts (code, kind, normal_side, non_negative, hot, balance, version, created_at)
SELECT 'resident:p' || i || ':money', 'liability', 'credit', true, false, 0, 0, now()
  FROM generate_series(1, 10000) AS i;
SELECT count(*) FROM ledger_post_transfers(
    (SELECT array_agg('fund' || i ORDER BY i) FROM generate_series(1, 10000) AS i),
    'topup',
    array_fill('x'::text, ARRAY[10000]),
    array_fill('x'::text, ARRAY[10000]),
    array_fill(now(), ARRAY[10000]),
    array_fill('bank:settlement'::text, ARRAY[10000]),
    (SELECT array_agg('resident:p' || i || ':money' ORDER BY i) FROM generate_series(1, 10000) AS i),
    array_fill(1000000::bigint, ARRAY[10000])
);
VACUUM ANALYZE;
