-- A fact for other systems, written in the transaction of the change it describes (the
-- transactional outbox, machipay/outbox.py): SQL functions emit through this one, as Python
-- does through add_outbox_event.
CREATE OR REPLACE FUNCTION public.outbox_emit(p_topic text, p_payload text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (topic, payload, created_at)
    VALUES (p_topic, p_payload, clock_timestamp());
END $$;
