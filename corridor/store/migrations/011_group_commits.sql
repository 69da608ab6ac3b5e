-- One row per group commit of a server's writer on PostgreSQL, written in the group's own
-- transaction: after a lost connection (a failover), the writer reads here whether the
-- group it was committing is in the store, and applies it again only if it is not.
CREATE TABLE group_commits (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE INDEX group_commits_at ON group_commits (at);
