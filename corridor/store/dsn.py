"""Where TXN's store is: a DSN from hub.yaml `store.txn`, or `--store` (whose default is
$CORRIDOR_TXN_STORE, `corridor.settings`).

`sqlite:///txn.db` is relative to the data directory, `sqlite:////abs/txn.db` absolute;
`postgresql://user@host:port/db` (with `?options=-csearch_path%3Dschema` if wanted) is
handed to psycopg unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

from corridor.core.errors import InvalidInput


def choose_dsn(configured: str, override: str | None = None) -> str:
    """The DSN to use: an explicit override, else the site's."""
    return override or configured


def sqlite_path(dsn: str, data_dir: Path) -> Path | None:
    """The database file of a sqlite DSN (None for PostgreSQL)."""
    if not dsn.startswith("sqlite://"):
        return None
    rest = dsn.removeprefix("sqlite://")
    if not rest.startswith("/") or rest == "/":
        raise InvalidInput(f"store DSN {shown(dsn)!r} names no file", code="bad_store")
    path = Path(rest[1:])  # "/txn.db" -> relative; "//abs/txn.db" -> "/abs/txn.db"
    return path if path.is_absolute() else data_dir / path


def location(dsn: str, data_dir: Path) -> str:
    """What a message names as the store: its file, or the DSN without its password."""
    return str(sqlite_path(dsn, data_dir) or shown(dsn))


def kind(dsn: str) -> str:
    """"sqlite" or "postgresql"; anything else is a clear error."""
    if dsn.startswith("sqlite://"):
        return "sqlite"
    if dsn.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise InvalidInput(
        f"store DSN {shown(dsn)!r} is neither sqlite:///FILE nor postgresql://...",
        code="bad_store",
    )


def in_data_dir(dsn: str) -> bool:
    """Whether the store lives under the data directory (a relative sqlite DSN), so that
    `--data` chooses which one is opened."""
    path = sqlite_path(dsn, Path())
    return path is not None and not path.is_absolute()


# The password in a URL's user part (`//user:PASSWORD@host`) and as a `password=` parameter.
_PASSWORDS = re.compile(r"(//[^/@:]*:)[^/]*(@)|(password\s*=\s*)('[^']*'|[^&\s]*)",
                        re.IGNORECASE)


def without_password(dsn: str) -> str:
    """`dsn` with its password left out (the user part's and any `password=` parameter),
    everything else as written: what a host that must not hold the credentials may read."""
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        return dsn
    authority, slash, tail = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if at:
        user = userinfo.partition(":")[0]
        authority = f"{user}@{hosts}" if user else hosts
    path, question, query = tail.partition("?")
    if question:
        kept = [item for item in query.split("&")
                if item.partition("=")[0].strip().lower() != "password"]
        tail = f"{path}?{'&'.join(kept)}" if kept else path
    return f"{scheme}://{authority}{slash}{tail}"


def shown(dsn: str) -> str:
    """`dsn` fit for a message, its password replaced by ***. (psycopg's conninfo parser
    hides it only in DSNs that libpq accepts, and rewrites them as key=value; a message
    shows the DSN as it was given, an invalid one included.)"""
    return _PASSWORDS.sub(lambda m: f"{m[1]}***{m[2]}" if m[1] else f"{m[3]}***", dsn)
