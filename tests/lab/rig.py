"""A lab under test: `corridor lab up --in-place` on a copy of the demo site, run as the
operator runs it (a separate process), under a name of its own, and always taken down.
Its files go where the lab's always go (a tmpfs under /run in the VM, where the test's
own temporary directory may be the host's, shared over 9p, which holds no sockets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corridor.lab import report
from corridor.lab.state import DEFAULT_ROOT
from tests.support import copy_site, need_root, need_tool

TOOLS = ("ip", "nft", "sshd", "ssh", "ssh-keygen", "ipsec", "certutil", "pk12util")


def corridor(*args: object, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corridor", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, check=False)


def lab_name(tag: str) -> str:
    return f"{tag}{os.getpid() % 100000}"


@dataclass
class Lab:
    name: str
    root: Path
    site: Path  # the operator's site the lab was built from

    @property
    def dir(self) -> Path:
        return self.root / self.name

    @property
    def lab_site(self) -> Path:
        return self.dir / "site"

    def ns(self, host: str) -> str:
        return f"{self.name}-{host}"

    def args(self) -> list[str]:
        return ["--name", self.name, "--root", str(self.root), "--in-place"]

    def status(self) -> dict[str, Any]:
        done = corridor("lab", "status", "--json", *self.args())
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def counter(self, host: str, rule: str) -> int:
        return report.counter(self.status(), host, rule)

    def tunnel(self, partner: str) -> dict[str, Any]:
        return next(t for t in self.status()["tunnels"] if t["partner"] == partner)


@contextmanager
def running_lab(tmp: Path, tag: str) -> Iterator[Lab]:
    need_root()
    need_tool(*TOOLS)
    lab = Lab(lab_name(tag), DEFAULT_ROOT, copy_site(tmp))
    try:
        done = corridor("lab", "up", "--site", lab.site, *lab.args())
        assert done.returncode == 0, done.stdout + done.stderr
        yield lab
    finally:
        corridor("lab", "down", *lab.args())


def namespaces(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


# What a machine whose own address sits inside the demo lab's core segment answers.
COLLISION = "error: lab network 10.98.1.0/24 overlaps this machine's address 10.98.1.77/24"


@contextmanager
def colliding_machine(tag: str) -> Iterator[str]:
    """A namespace standing for a machine that holds 10.98.1.77/24, inside the demo lab's
    core segment: a builder run in it sees that address as its machine's own."""
    machine = f"{lab_name(tag)}-machine"
    subprocess.run(["ip", "netns", "add", machine], check=True)
    try:
        subprocess.run(["ip", "-n", machine, "link", "add", "d0", "type", "veth", "peer", "d1"],
                       check=True)
        subprocess.run(["ip", "-n", machine, "addr", "add", "10.98.1.77/24", "dev", "d0"],
                       check=True)
        yield machine
    finally:
        subprocess.run(["ip", "netns", "del", machine], check=False)
