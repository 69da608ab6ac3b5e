"""Where the jump server keeps its runtime state under the data directory, and the keys it
owns: its persistent host key and the client key only the bastion holds for targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from corridor.pki.files import write_secret


@dataclass(frozen=True, slots=True)
class JumpState:
    root: Path  # <data>/jump

    @classmethod
    def under(cls, data_dir: Path) -> JumpState:
        return cls(Path(data_dir) / "jump")

    @property
    def host_key(self) -> Path:
        return self.root / "host_ed25519"

    @property
    def client_key(self) -> Path:
        return self.root / "bastion_ed25519"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.log"

    @property
    def sessions(self) -> Path:
        return self.root / "sessions"

    @property
    def totp_steps(self) -> Path:
        return self.root / "totp_steps.json"

    @property
    def lockouts(self) -> Path:
        return self.root / "lockouts.json"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts.json"

    @property
    def control(self) -> Path:
        return self.root / "control.sock"

    def prepare(self) -> None:
        """Create the directories, private to the owner (they hold keys and recordings)."""
        for folder in (self.root, self.sessions):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)


def ensure_key(path: Path) -> asyncssh.SSHKey:
    """Load the ed25519 key at `path`, creating it (0600, with a .pub beside) if absent."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"corridor-jump {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret(path, key.export_private_key())
    path.with_suffix(".pub").write_bytes(key.export_public_key())
    return key


class StateUnreadable(Exception):
    """A state file exists but is not the JSON object the bastion writes. The bastion
    stops rather than start without what the file holds (used TOTP steps, lock-outs)."""

    what = "a state file of the jump server"

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} is not {self.what}; move it aside to start afresh")


def read_object(path: Path, unreadable: type[StateUnreadable],
                valid: Callable[[object], bool]) -> dict[str, Any]:
    """The JSON object the bastion wrote at `path` ({} when there is none yet), every
    value of which is `valid`; else `unreadable`."""
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise unreadable(path) from None
    if not isinstance(raw, dict) or not all(valid(v) for v in raw.values()):
        raise unreadable(path)
    return raw
