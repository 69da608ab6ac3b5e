"""Whether a file changed, without reading it: its (mtime, size, inode) stamp. Servers
that reload what an operator edits in place (EIG's partners, the bastion's policy, the TLS
contexts and CRLs) compare stamps on each look; an atomic replace changes the inode even
within one mtime tick."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

Stamp = tuple[int, int, int]


def stamp(path: Path) -> Stamp | None:
    """The file's stamp, or None when it is not there (or cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def stamps(paths: Iterable[Path]) -> tuple[tuple[str, Stamp | None], ...]:
    """The stamps of several files, each with its path (a file added or gone changes it)."""
    return tuple((str(path), stamp(path)) for path in paths)
