"""Backing up and restoring the PostgreSQL store with PostgreSQL's own tools: `pg_dump
--format=custom` of the schema that holds TXN's tables, `pg_restore` into an empty one.

Why pg_dump and not pg_basebackup: a logical dump of one schema restores into any empty
database of the same or a newer PostgreSQL, on another server, beside other data, and an
auditor can read it with `pg_restore --list`. A base backup copies the whole cluster's
files, needs a replication connection, and restores only as a whole cluster of the same
major version; it is the base of point-in-time recovery, which belongs to WAL archiving
in the PostgreSQL cluster (docs/scaling.md, "Backups"), not to Corridor.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from psycopg import Rollback, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from corridor.backup.errors import BackupError
from corridor.store import Connection
from corridor.store.adapter import PostgresConnection

FILE = "txn.dump"
T = TypeVar("T")


def snapshot(conn: Connection, dsn: str, dest: Path, read: Callable[[Connection], T]
             ) -> tuple[str, T]:
    """Dump the schema `conn` reads into `dest` while TXN goes on committing; the schema's
    name, and what `read` found in the very snapshot pg_dump copied.

    A REPEATABLE READ transaction exports its snapshot and `pg_dump --snapshot` dumps in
    it, so the manifest's figures describe exactly the rows in the dump. TXN's writers
    append to the feed in commit order (the feed lock), so the snapshot holds a prefix of
    the feed."""
    assert isinstance(conn, PostgresConnection)
    tool = _tool("pg_dump")
    with conn.db.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        exported = conn.query("SELECT pg_export_snapshot()")[0][0]
        schema = conn.query("SELECT current_schema()")[0][0]
        facts = read(conn)
        conninfo, env = _libpq(dsn)
        _run([tool, "--format=custom", f"--snapshot={exported}", f"--schema={_exact(schema)}",
              f"--file={dest}", f"--dbname={conninfo}"], env)
    dest.chmod(0o600)
    return schema, facts


def check_target(conn: Connection, schema: str, where: str) -> None:
    """Refuse a target that holds a store or tables in `schema`, or whose DSN would not read
    `schema` once it is there (the dump recreates the schema by its name)."""
    if conn.query("SELECT to_regclass('schema_version')") != [(None,)]:
        raise BackupError(f"{where} already holds a TXN store: restore into an empty "
                          "database or schema", code="restore_target_not_empty")
    tables = conn.query("SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = ?", (schema,))[0][0]
    if tables:
        raise BackupError(f"schema {schema} of {where} holds {tables} tables or other "
                          "relations: restore into an empty one", code="restore_target_not_empty")
    seen = _schema_seen(conn, schema)
    if seen != schema:
        raise BackupError(
            f"the backup restores into schema {schema}, but {where} reads schema "
            f"{seen or '(none)'}: add ?options=-csearch_path%3D{schema} to --store",
            code="restore_wrong_schema")


def restore(dump: Path, dsn: str, conn: Connection, schema: str) -> None:
    """Load `dump` into the database of `dsn` in one transaction: all of it or nothing."""
    tool = _tool("pg_restore")
    conninfo, env = _libpq(dsn)
    listing = _run([tool, "--list", str(dump)], env)
    if conn.query("SELECT 1 FROM pg_namespace WHERE nspname = ?", (schema,)):
        listing = _without_schema(listing, schema)
    with tempfile.NamedTemporaryFile("w", suffix=".list") as use:
        use.write(listing)
        use.flush()
        _run([tool, "--no-owner", "--no-acl", "--single-transaction", "--exit-on-error",
              f"--use-list={use.name}", f"--dbname={conninfo}", str(dump)], env)


def _without_schema(listing: str, schema: str) -> str:
    """The restore list without creating (or commenting on) a schema the target already has
    (an empty one: `public` in any new database). pg_restore's list is a documented format
    of one entry a line, `ID; TABLEOID OID TYPE SCHEMA NAME OWNER`; a line starting with `;`
    is skipped."""
    out = []
    for line in listing.splitlines():
        words = line.split()
        if words[3:6] == ["SCHEMA", "-", schema] or words[3:7] == ["COMMENT", "-", "SCHEMA",
                                                                      schema]:
            line = f";{line}"
        out.append(line)
    return "\n".join(out) + "\n"


def _schema_seen(conn: Connection, schema: str) -> str | None:
    """The schema `conn`'s search path would pick once `schema` exists: found by creating it
    in a transaction that is rolled back, so nothing stays."""
    assert isinstance(conn, PostgresConnection)
    seen = None
    with conn.db.transaction():
        conn.db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        seen = conn.query("SELECT current_schema()")[0][0]
        raise Rollback
    return seen


def _exact(name: str) -> str:
    """A pg_dump pattern that matches `name` only (quoted: no wildcards, case kept)."""
    return '"' + name.replace('"', '""') + '"'


def _libpq(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN for a libpq tool's command line, and its environment: a password goes in
    PGPASSWORD, never in an argument that `ps` shows."""
    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: postgresql-client)",
                          code="backup_tool_failed")
    return path


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "error:" in line]
        said = " ".join((lines[0] if lines else done.stderr).split())
        raise BackupError(f"{Path(args[0]).name} failed: {said}", code="backup_tool_failed")
    return done.stdout
