-- TXN's schema. `{identity}` is the only word the adapters fill in.

CREATE TABLE quotes (
    id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    receive_partner_id TEXT NOT NULL,
    corridor TEXT NOT NULL,
    send_minor BIGINT NOT NULL,
    send_currency TEXT NOT NULL,
    receive_minor BIGINT NOT NULL,
    receive_currency TEXT NOT NULL,
    fee_minor BIGINT NOT NULL,
    fx_margin_minor BIGINT NOT NULL,
    rate TEXT NOT NULL,
    mid_rate TEXT NOT NULL,
    destination_country TEXT NOT NULL,
    payout_method TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE transfers (
    id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    quote_id TEXT NOT NULL UNIQUE,
    receive_partner_id TEXT NOT NULL,
    corridor TEXT NOT NULL,
    status TEXT NOT NULL,
    code TEXT,
    reason TEXT,
    send_minor BIGINT NOT NULL,
    send_currency TEXT NOT NULL,
    receive_minor BIGINT NOT NULL,
    receive_currency TEXT NOT NULL,
    fee_minor BIGINT NOT NULL,
    fx_margin_minor BIGINT NOT NULL,
    rate TEXT NOT NULL,
    destination_country TEXT NOT NULL,
    payout_method TEXT NOT NULL,
    sender TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    purpose TEXT NOT NULL,
    source_of_funds TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    screening TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (reference, partner_id)  -- most selective first: batches look up many at once
);
CREATE INDEX transfers_partner_created ON transfers (partner_id, created_at);
CREATE INDEX transfers_status ON transfers (status);

-- The ordered feed RPT reads by cursor; rows are never changed or removed.
CREATE TABLE events (
    seq {identity},
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    transfer_id TEXT,
    at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_transfer ON events (transfer_id);

-- Double entry: every journal sums to zero per currency.
CREATE TABLE entries (
    id {identity},
    journal_id TEXT NOT NULL,
    transfer_id TEXT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX entries_transfer ON entries (transfer_id);

-- Running balances, kept in step with entries in the same commit.
CREATE TABLE accounts (
    account TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    posted BIGINT NOT NULL,
    pending BIGINT NOT NULL
);

-- A transfer is paid out at most once: the primary key refuses a second payout.
CREATE TABLE payouts (
    transfer_id TEXT PRIMARY KEY,
    journal_id TEXT NOT NULL,
    at TEXT NOT NULL
);

CREATE TABLE fundings (
    partner_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    journal_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (partner_id, reference)
);

CREATE TABLE sender_daily (
    partner_id TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    day TEXT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (sender_key, day, partner_id)
);

CREATE TABLE idempotency (
    partner_id TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (key, partner_id)
);
CREATE INDEX idempotency_created ON idempotency (created_at);

-- Messages to send, written in the same commit as the state change that causes them.
CREATE TABLE outbox (
    id {identity},
    kind TEXT NOT NULL,
    transfer_id TEXT,
    partner_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    due_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, due_at);

CREATE TABLE compliance_decisions (
    transfer_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    analyst TEXT NOT NULL,
    note TEXT,
    at TEXT NOT NULL
);
