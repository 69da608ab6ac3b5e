-- Routing between receive partners that share a corridor and payout method.

-- The circuit breaker of each receive partner as the payout worker last left it
-- (corridor.txn.routing): `closed` in rotation, `open` out of it, `probing` being tried.
CREATE TABLE partner_breakers (
    partner_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    failures INTEGER NOT NULL,
    reason TEXT,
    since TEXT NOT NULL,
    probe_at TEXT
);
