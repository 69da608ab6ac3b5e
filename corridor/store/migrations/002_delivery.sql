-- Delivery of outbox messages and the facts a person must reconcile.

-- When a message that keeps failing is parked (dead letter); set at its first failure,
-- cleared when an operator replays it so that it gets a full period again.
ALTER TABLE outbox ADD COLUMN give_up_at TEXT;
CREATE INDEX outbox_kind_due ON outbox (kind, due_at);

-- Contradictions the hub will not settle by itself: a receive partner reporting SUCCESS
-- for a transfer the hub already failed (or the reverse). Never paid twice; a person acts.
CREATE TABLE reconciliation (
    id {identity},
    transfer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hub_status TEXT NOT NULL,
    partner_status TEXT NOT NULL,
    partner_reference TEXT,
    detail TEXT NOT NULL,
    action TEXT NOT NULL,
    at TEXT NOT NULL,
    resolved_at TEXT,
    UNIQUE (transfer_id, kind)
);
