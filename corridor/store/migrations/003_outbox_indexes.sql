-- Claims look for open messages of one kind that are due; closing and rescheduling find a
-- transfer's messages. Without these both scan every message ever sent.
DROP INDEX outbox_kind_due;
CREATE INDEX outbox_open ON outbox (kind, state, due_at);
CREATE INDEX outbox_transfer ON outbox (transfer_id, kind);
