"""A change to many files of a site at once, all or nothing: the partner files that
`corridor.site.edit` writes, and the certificates, CRLs and secrets that `corridor.pki`
writes, staged together.

The change is made on a private copy of the site (a 0700 temporary directory, since the
copy holds the site's private keys) by the very functions that change a real site, so
nothing here knows what a partner, a certificate or a PSK is. The copy is then checked as
a whole: `check` loads it as the servers would. Only `commit` touches the real site: it
writes each file that differs from the copy atomically (keeping the copy's mode) and
removes those the copy no longer has, after making sure that nobody else changed one of
them since the copy was taken; if any write fails, every file already written is put back
as it was. Leaving the `with` block without a commit discards the copy, and the real site
was never touched. One staged change runs at a time per site (a lock on its directory).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from corridor.pki.files import write_atomic
from corridor.site.loader import load_site
from corridor.site.model import Site


class SiteChanged(Exception):
    """The real site changed while the copy was staged (committing would undo that), or
    another staged change of it is under way."""


class SiteTransaction:
    """`with SiteTransaction(site_dir) as tx:` change files under `tx.root` (a copy of the
    site), `tx.check()`, then `tx.commit()`."""

    def __init__(self, site_dir: Path) -> None:
        self.site_dir = site_dir
        self._lock: int | None = _lock(site_dir)
        self._tmp = Path(tempfile.mkdtemp(prefix="corridor-stage-"))  # mode 0700
        self.root = self._tmp / "site"
        try:
            shutil.copytree(site_dir, self.root, ignore=shutil.ignore_patterns(".git"))
            self._before = _digests(self.root)
        except BaseException:
            self.discard()
            raise

    def __enter__(self) -> SiteTransaction:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.discard()

    @property
    def scratch(self) -> Path:
        """A private directory beside the copy for what is built from it (a partner kit)."""
        path = self._tmp / "scratch"
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def check(self) -> Site:
        """The site as the change leaves it; `SiteInvalid` with every fault otherwise."""
        return load_site(self.root)

    def changes(self) -> tuple[list[str], list[str]]:
        """(files written or created, files removed), relative to the site, sorted."""
        after = _digests(self.root)
        written = sorted(f for f, d in after.items() if self._before.get(f) != d)
        removed = sorted(f for f in self._before if f not in after)
        return written, removed

    def commit(self) -> list[str]:
        """Write the change into the real site; returns the files changed ("-" before a
        removed one). Raises `SiteChanged` (nothing written) when another hand changed one
        of those files since the copy was taken, and puts back what it wrote when a write
        fails (then re-raises)."""
        written, removed = self.changes()
        for rel in (*written, *removed):
            if _digest(self.site_dir / rel) != self._before.get(rel):
                raise SiteChanged(f"{self.site_dir / rel} changed while the change was "
                                  "prepared; nothing was written, run the command again")
        undo: list[tuple[Path, bytes | None, int]] = []
        made_dirs: list[Path] = []
        try:
            for rel in written:
                target, source = self.site_dir / rel, self.root / rel
                undo.append(_saved(target))
                made_dirs += _missing_parents(target.parent, self.site_dir)
                write_atomic(target, source.read_bytes(), source.stat().st_mode & 0o777)
            for rel in removed:
                target = self.site_dir / rel
                undo.append(_saved(target))
                target.unlink()
        except BaseException:
            for path, data, mode in reversed(undo):
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomic(path, data, mode)
            for folder in reversed(made_dirs):
                with contextlib.suppress(OSError):  # someone else's file went in since
                    folder.rmdir()
            raise
        return [*written, *(f"-{rel}" for rel in removed)]

    def discard(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None

    def unstaged(self, text: str) -> str:
        """A message about the copy, naming the real site's paths instead."""
        return text.replace(str(self.root), str(self.site_dir))


def _lock(site_dir: Path) -> int:
    """An exclusive lock on the site directory itself (no lock file to add to the site),
    held until the transaction ends: two staged changes at once would each be checked
    without the other (two partners given one address) and both be written."""
    fd = os.open(site_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SiteChanged(f"another change to {site_dir} is being made; run the command "
                          "again once it is done") from None
    return fd


def _digests(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path) -> SHA-256 of its content and its mode."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            found = _digest(path)
            if found is not None:
                out[str(path.relative_to(root))] = found
    return out


def _digest(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode & 0o777
        return f"{mode:o}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    except (FileNotFoundError, IsADirectoryError):
        return None


def _saved(path: Path) -> tuple[Path, bytes | None, int]:
    try:
        return path, path.read_bytes(), path.stat().st_mode & 0o777
    except FileNotFoundError:
        return path, None, 0


def _missing_parents(folder: Path, root: Path) -> list[Path]:
    """The directories between `root` and `folder` that do not exist yet, outermost first."""
    missing = []
    while folder != root and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return list(reversed(missing))

