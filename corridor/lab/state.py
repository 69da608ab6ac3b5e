"""What a lab has made, written down before it is made, so that `lab down` can remove all
of it even after the builder was killed: its namespaces (all named `<lab>-<host>`), the
processes started in them, and its directory (site copy, keys, logs, run directories).

The state file is `<root>/<lab>/state.json`, rewritten atomically at every step. The
root defaults to /run/corridor-lab, a tmpfs on a usual system: pluto's control socket
and run directory must live on a file system that holds UNIX sockets.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from corridor.lab.errors import LabError
from corridor.pki.files import write_atomic

# On a tmpfs: pluto's control sockets live under it (`--root` puts a lab elsewhere).
DEFAULT_ROOT = Path("/run/corridor-lab")
DEFAULT_NAME = "clab"
_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")  # no '-': one lab's prefix is never another's


_saving = threading.Lock()


@dataclass
class Proc:
    host: str
    what: str  # "txn", "sshd", "pluto", "sim payouts" ...
    pid: int
    log: str


@dataclass
class State:
    name: str
    root: str  # this lab's directory
    site: str  # the site it was built from
    phase: str = "building"  # building | up
    builder: int = 0  # pid of the process that builds it
    started: float = 0.0
    namespaces: list[str] = field(default_factory=list)
    processes: list[Proc] = field(default_factory=list)
    esp: bool | None = None  # whether the kernel it runs in carries ESP

    @property
    def dir(self) -> Path:
        return Path(self.root)

    @property
    def path(self) -> Path:
        return self.dir / "state.json"

    def ns(self, host: str) -> str:
        return namespace(self.name, host)

    def save(self) -> None:
        with _saving:  # the builder records from several threads
            self.dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(asdict(self), indent=1, sort_keys=True).encode())

    def made_namespace(self, ns: str) -> None:
        """Record a namespace about to be made (before: a crash in between leaves a name
        that `down` finds absent, never a namespace it does not know)."""
        if ns not in self.namespaces:
            self.namespaces.append(ns)
            self.save()

    def started_process(self, proc: Proc) -> None:
        self.processes.append(proc)
        self.save()


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise LabError(f"lab name {name!r} must be 1-12 lowercase letters and digits, "
                       "starting with a letter")
    return name


def namespace(lab: str, host: str) -> str:
    return f"{lab}-{host}"


def lab_dir(root: Path, name: str) -> Path:
    return root / check_name(name)


def load(root: Path, name: str) -> State | None:
    path = lab_dir(root, name) / "state.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        procs = [Proc(**p) for p in data.pop("processes", [])]
        return State(**data, processes=procs)
    except (ValueError, TypeError) as exc:
        raise LabError(f"{path} is unreadable ({exc}); remove the lab with `corridor lab "
                       f"down --name {name}`") from None


def new(root: Path, name: str, site: Path) -> State:
    state = State(name, str(lab_dir(root, name)), str(site), builder=os.getpid(),
                  started=time.time())
    state.save()
    return state


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
