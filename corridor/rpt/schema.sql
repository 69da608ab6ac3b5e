-- RPT's analytical store (DuckDB). Every time is UTC; amounts are integers in minor units
-- of the currency named beside them. Rows are derived only from TXN's event feed.

-- Where the feed stands: the seq of the last event counted. Written in the same
-- transaction as the rows those events produced, so an event is counted exactly once.
CREATE TABLE IF NOT EXISTS feed_cursor (
    id INTEGER PRIMARY KEY,          -- always 1
    after BIGINT NOT NULL,
    events BIGINT NOT NULL,          -- events counted since the store was created
    updated_at TIMESTAMPTZ NOT NULL
);

-- One row per `transfer.status` event: rejections, holds, latency and history.
CREATE TABLE IF NOT EXISTS status_changes (
    seq BIGINT NOT NULL,
    transfer_id VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL,
    previous VARCHAR,
    send_partner VARCHAR,
    receive_partner VARCHAR,
    corridor VARCHAR,
    code VARCHAR,
    reason VARCHAR,
    screening_party VARCHAR,
    screening_entry VARCHAR,
    screening_name VARCHAR,
    screening_score INTEGER
);

-- The wide fact table: one row per transfer with its latest state and its amounts.
-- Settlement and reports aggregate over it.
CREATE TABLE IF NOT EXISTS transfers (
    id VARCHAR PRIMARY KEY,
    reference VARCHAR,
    send_partner VARCHAR NOT NULL,
    receive_partner VARCHAR NOT NULL,
    corridor VARCHAR NOT NULL,
    send_amount BIGINT NOT NULL,
    send_currency VARCHAR NOT NULL,
    receive_amount BIGINT NOT NULL,
    receive_currency VARCHAR NOT NULL,
    fee BIGINT NOT NULL,
    fx_margin BIGINT NOT NULL,
    rate VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL,
    status_at TIMESTAMPTZ NOT NULL,  -- when it entered its current status
    completed_at TIMESTAMPTZ,        -- the settlement day is taken from this
    code VARCHAR,
    reason VARCHAR,
    sender_key VARCHAR,
    screening_hit BOOLEAN NOT NULL,
    held BOOLEAN NOT NULL,           -- was in COMPLIANCE_HOLD at some point
    last_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS decisions (
    seq BIGINT NOT NULL,
    transfer_id VARCHAR NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL,
    decision VARCHAR NOT NULL,       -- release | reject
    analyst VARCHAR,
    note VARCHAR
);

CREATE TABLE IF NOT EXISTS fundings (
    seq BIGINT NOT NULL,
    funded_at TIMESTAMPTZ NOT NULL,
    partner VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    amount BIGINT NOT NULL,
    reference VARCHAR
);

-- When a completed transfer was given back (RETURNED); its settlement day is taken from
-- this. Added after the table was first shipped, hence its own statement.
ALTER TABLE transfers ADD COLUMN IF NOT EXISTS returned_at TIMESTAMPTZ;
