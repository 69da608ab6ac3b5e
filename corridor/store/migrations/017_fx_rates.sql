-- Live FX rates (corridor.core.fx): every rate pushed, with its source and time, who
-- pushed it and, for a move beyond the band, who confirmed it. Rows are never removed;
-- the newest `live` row of a pair is the rate quotes use.
CREATE TABLE fx_rates (
    id {identity},
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    rate TEXT NOT NULL,
    source TEXT NOT NULL,
    given_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    state TEXT NOT NULL,
    move_bps INTEGER,
    confirmed_by TEXT,
    confirmed_at TEXT
);
CREATE INDEX fx_rates_pair ON fx_rates (base, quote, state, id);
-- The rate each quote was priced on (NULL: hub.yaml's static rate).
ALTER TABLE quotes ADD COLUMN fx_rate_id BIGINT;
