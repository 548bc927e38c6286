-- A reward's points become a lot of their own, expiring on its own date; the entry that
-- credited them is given by the caller (who posted it).
CREATE OR REPLACE FUNCTION public.wallet_grant_lot(
    p_resident bigint, p_amount bigint, p_granted_at timestamptz, p_expires_at timestamptz,
    p_campaign bigint, p_entry bigint, p_reference text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wallet_points_lots (resident_id, amount, remaining, granted_at, expires_at,
                                    campaign_id, entry_id, source_reference)
    VALUES (p_resident, p_amount, p_amount, p_granted_at, p_expires_at, p_campaign, p_entry,
            p_reference);
END $$;
