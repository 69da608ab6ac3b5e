-- One row per group commit of a server's writer on PostgreSQL, written in the batch's own
-- transaction: after a lost connection (a failover), the writer reads here whether the
-- batch it was committing is in the store, and applies it again only if it is not.
CREATE TABLE batch_commits (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE INDEX batch_commits_at ON batch_commits (at);
