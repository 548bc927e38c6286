-- DP mode's per-fact clamp, the one rule behind both of its sums: a query reading the facts
-- (analytics/dp.py) and the cells pre-summed from them (analytics/dp_cells.py) clamp each
-- fact's amount, points used and reward to ±cap before summing, so the two hand OpenDP the
-- same rows. Refunds are negative and clamp to -cap. A NULL value stays NULL (SUM skips it)
-- rather than becoming +cap, as GREATEST and LEAST skipping NULLs would make it; the facts'
-- columns are NOT NULL, so no answer depends on that. One plain SQL expression, IMMUTABLE
-- and not STRICT: the planner inlines it into the calling query (a STRICT function whose
-- body uses GREATEST/LEAST is not inlined), so no function is called per fact.
CREATE OR REPLACE FUNCTION public.analytics_clamp(value bigint, cap bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN NULL ELSE greatest(least(value, cap), -cap) END
$$;
