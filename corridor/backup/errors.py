"""Why a backup or a restore stops. One class; its `code` says which case it is:

    BackupError (a CorridorError: the CLI prints `error: CODE: detail`, exit 1)
      code backup_target_not_empty  `backup --to` names a directory that holds files
      code backup_incomplete        no manifest: a backup that did not finish, or no backup
      code backup_damaged           a file missing, of the wrong size or SHA-256; a bad manifest
      code backup_format            a manifest written by a Corridor that knows another format
      code store_kind_mismatch      a SQLite backup into PostgreSQL, or the other way round
      code restore_target_not_empty the place restored into already holds a store or tables
      code restore_wrong_schema     the target DSN would not read the schema restored into
      code backup_tool_failed       pg_dump or pg_restore failed (its own message follows)
      code restore_mismatch         the restored store's figures differ from the manifest's
"""

from __future__ import annotations

from corridor.core.errors import CorridorError


class BackupError(CorridorError):
    code = "backup_failed"
    title = "Backup failed"
