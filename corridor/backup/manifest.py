"""A backup directory's `manifest.json`: what was backed up and from where, the figures of
the snapshot, a digest of the site it ran with, and each file's size and SHA-256.

A backup writes the manifest last, atomically and only once its files are on disk, so a
directory without one is a backup that did not finish. A restore reads it first and checks
every file against it before anything is written.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgspec

from corridor.backup.errors import BackupError
from corridor.store import Connection
from corridor.store import reads as q

FORMAT = 1
NAME = "manifest.json"
# Site files the manifest does not digest: key material, which a backup never holds.
KEY_MATERIAL = ("pki", "secrets")


class StoredFile(msgspec.Struct, frozen=True):
    path: str  # a plain file name inside the backup directory
    size: int
    sha256: str


class Balance(msgspec.Struct, frozen=True):
    account: str
    currency: str
    posted: int
    pending: int


class Figures(msgspec.Struct, frozen=True):
    """Facts of the snapshot, read in the same transaction as the copy; a restored store
    must show them again."""

    last_event_seq: int
    events: int
    transfers: int
    balances: list[Balance]

    @classmethod
    def of(cls, conn: Connection) -> Figures:
        return cls(
            last_event_seq=q.last_event_seq(conn), events=q.event_count(conn),
            transfers=q.transfer_count(conn),
            balances=[Balance(a, c, int(p), int(n)) for a, c, p, n in q.balances(conn)],
        )

    def differences(self, restored: Figures) -> list[str]:
        out = [f"{name} {getattr(restored, name)} (backup: {getattr(self, name)})"
               for name in ("last_event_seq", "events", "transfers")
               if getattr(restored, name) != getattr(self, name)]
        if restored.balances != self.balances:
            out.append("the ledger balances differ")
        return out


class Source(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: str  # "sqlite" or "postgresql"
    location: str  # the database file, or the DSN without its password
    schema_version: int
    schema: str | None = None  # PostgreSQL: the schema that holds TXN's tables


class Manifest(msgspec.Struct, frozen=True):
    format: int
    created_at: str  # RFC 3339, UTC
    corridor: str  # the version that wrote the backup
    store: Source
    figures: Figures
    site: dict[str, str]  # site file (relative) -> SHA-256, when the backup was taken
    files: list[StoredFile]

    def file(self, name: str) -> StoredFile:
        for entry in self.files:
            if entry.path == name:
                return entry
        raise BackupError(f"the manifest lists no {name}", code="backup_damaged")


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def stored(directory: Path, names: list[str]) -> list[StoredFile]:
    """The entries for `names`, files of `directory`, fsynced before they are described."""
    out = []
    for name in names:
        path = directory / name
        with path.open("rb") as f:
            os.fsync(f.fileno())
        out.append(StoredFile(name, path.stat().st_size, sha256(path)))
    return out


def site_digests(root: Path) -> dict[str, str]:
    """SHA-256 of each file of the site except its key material: which hub.yaml, partner
    files and sanctions lists the ledger was made under."""
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in KEY_MATERIAL
            and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def site_changes(manifest: Manifest, root: Path) -> list[str]:
    """Site files added, removed or changed since the backup."""
    now = site_digests(root)
    return sorted(name for name in set(now) | set(manifest.site)
                  if now.get(name) != manifest.site.get(name))


def write(directory: Path, manifest: Manifest) -> None:
    """Write the manifest durably: its presence promises that the files it lists are whole,
    so its own bytes reach the disk before the rename makes it appear."""
    data = msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"
    tmp = directory / f".{NAME}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / NAME)
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checked(directory: Path) -> Manifest:
    """The manifest of the backup in `directory`, once every file it lists is there with its
    size and SHA-256; otherwise a `BackupError` naming the first file that is not."""
    if not directory.is_dir():
        raise BackupError(f"{directory} is not a directory", code="backup_incomplete")
    path = directory / NAME
    if not path.is_file():
        raise BackupError(f"{directory} has no {NAME}: the backup did not finish (the manifest "
                          "is written last), or this is not a backup", code="backup_incomplete")
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=Manifest)
    except msgspec.DecodeError as exc:
        raise BackupError(f"{path} is unreadable: {exc}", code="backup_damaged") from None
    if manifest.format != FORMAT:
        raise BackupError(f"{path} is of format {manifest.format}; this Corridor reads "
                          f"format {FORMAT}", code="backup_format")
    for entry in manifest.files:
        if entry.path != Path(entry.path).name or entry.path.startswith("."):
            raise BackupError(f"{path} lists {entry.path!r}, which is not a file of the backup",
                              code="backup_damaged")
        file = directory / entry.path
        if not file.is_file():
            raise BackupError(f"{file} is missing", code="backup_damaged")
        size = file.stat().st_size
        if size != entry.size:
            raise BackupError(f"{file} is {size} bytes; the manifest says {entry.size}",
                              code="backup_damaged")
        if sha256(file) != entry.sha256:
            raise BackupError(f"{file} does not match its SHA-256 in the manifest",
                              code="backup_damaged")
    return manifest
