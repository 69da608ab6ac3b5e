-- An analyst's questions about a transfer on compliance hold, and the send partner's answers.

-- state: open (asked, no answer yet), answered, expired (no answer by the deadline: the
-- transfer was rejected), closed (the analyst decided).
CREATE TABLE information_requests (
    id TEXT PRIMARY KEY,
    transfer_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    ask TEXT NOT NULL,
    asked_by TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    deadline TEXT NOT NULL,
    state TEXT NOT NULL,
    answer TEXT,
    answered_at TEXT
);
CREATE INDEX information_requests_transfer ON information_requests (transfer_id);
CREATE INDEX information_requests_due ON information_requests (state, deadline);

-- What the partner sent, stored with its SHA-256; read by an analyst through
-- `corridor compliance document`, never served to any partner.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    transfer_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    content BYTEA NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX documents_transfer ON documents (transfer_id);
