-- Returns and recalls (docs/returns.md). A transfer is returned at most once: the primary
-- key is the store's own guarantee, beside the command's check.
CREATE TABLE returns (
    transfer_id TEXT PRIMARY KEY,
    journal_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    return_reference TEXT,
    code TEXT,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL
);

-- A send partner's recall of a completed transfer: one per transfer.
CREATE TABLE recalls (
    transfer_id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    answered_at TEXT,
    answer TEXT
);
