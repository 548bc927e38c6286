-- The shop a scanned QR's public id names, as a payment sees it: its id, name, street,
-- category, store type and status, and the street's name and district (the campaign rules
-- look at them). A function so that the payment path can read it inside its first call
-- (payment_open) and resolving a code reads it the same way (merchant_api/service.py).
CREATE OR REPLACE FUNCTION public.merchant_scanned(p_public_id text)
RETURNS TABLE (
    merchant_id bigint, name text, shopping_street_id bigint, category text, store_type text,
    status text, street_name text, district_id text
) LANGUAGE sql STABLE AS $$
    SELECT m.id, m.name::text, m.shopping_street_id, m.category_code::text, m.store_type::text,
           m.status::text, s.name::text, s.district_id::text
      FROM merchants m
      LEFT JOIN ward_shopping_streets s ON s.id = m.shopping_street_id
     WHERE m.public_id = p_public_id;
$$;
