-- When a posting is made: the database's own clock (settlement cuts its windows on it, and
-- compaction's lock makes a cut-off final only because a posting is never back-dated). One
-- exception: the demo's seed replays weeks of history through the real payment path and
-- sets ``ledger.posted_at`` for its own transaction only (set_config(..., true), in
-- ledger.postings_stamped_at); nothing the API or a worker runs sets it.
CREATE OR REPLACE FUNCTION public.ledger_posting_time() RETURNS timestamptz LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(
        nullif(current_setting('ledger.posted_at', true), '')::timestamptz, clock_timestamp()
    )
$$;
