"""Backups of TXN's store: a consistent snapshot taken while the hub runs, with each
engine's own tool, in a directory with a manifest of checksums; and a restore that refuses
a damaged, partial or misdirected backup.

- SQLite: the online backup API (`sqlite3.Connection.backup`) inside one read transaction
  (`corridor.backup.sqlite`).
- PostgreSQL: `pg_dump --format=custom` of TXN's schema in an exported snapshot, restored
  by `pg_restore` in one transaction (`corridor.backup.postgres` says why not
  pg_basebackup).
- `manifest.json` (`corridor.backup.manifest`), written last: format, time, Corridor's
  version, the store's kind, place and schema version, the figures of the snapshot (last
  event, event and transfer counts, ledger balances), the SHA-256 of each site file, and
  each backed-up file's size and SHA-256.

Not in a backup: RPT's store, which RPT rebuilds from the restored event feed (`corridor rpt
ingest`), and the site's key material (pki/, secrets/): keys belong in the operator's
secret store, and backups are copied to places that should not hold them. The site's other
files are the operator's, kept under version control; the manifest records their digests so
that a restore can say which ones changed since.
"""
