-- The W3C trace context of the hop that wrote an outbox message (`corridor.tracing`), so
-- that the payout and the sender callback it causes stay in the partner's trace. NULL
-- when that hop had none.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
