"""A lab as the operator runs it on this machine: `corridor lab up` without `--in-place`,
so that where this kernel has no ESP it boots the lab VM and builds the lab inside it.
`inside` runs a command where the lab lives (in the VM, or here); files the lab writes for
the test go to `shared`, a directory both sides see."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corridor.lab import remote, report
from corridor.lab.kernel import esp_support
from corridor.lab.plan import Plan, plan
from corridor.net.firewall import TABLE as ALLOWLIST
from corridor.net.nft import rule_counters
from corridor.site import load_site
from tests.lab.rig import TOOLS, corridor, lab_name
from tests.support import copy_site, need, need_root, need_tool

# Seconds: conditions end every wait; these bound a hang under an emulated VM on a loaded
# machine (Python there starts ~7x slower than here).
UP_S = 1200.0
ALLOWED = "10.20.1.2"  # PayFast's application in the lab, its allowlist in `pair_site`
DEMO_S = 900.0


@dataclass
class VMLab:
    name: str
    site: Path
    shared: Path  # written inside, read here
    vm: bool  # whether the lab lives in the VM
    plan: Plan

    def args(self) -> list[str]:
        return ["--name", self.name]

    def ns(self, host: str) -> str:
        return f"{self.name}-{host}"

    def inside(self, argv: Sequence[str], timeout: float = 300,
               ) -> subprocess.CompletedProcess[str]:
        if self.vm:
            return remote.lab_vm(self.name).run(list(argv), timeout=timeout)
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False)

    def background(self, argv: Sequence[str], log: Path) -> int:
        """Start `argv` where the lab lives, detached, its output into `log`; its pid."""
        line = " ".join(_quote(a) for a in argv)
        done = self.inside(["sh", "-c", f"{line} >{log} 2>&1 </dev/null & echo $!"])
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip())

    def running(self, pid: int) -> bool:
        return self.inside(["kill", "-0", str(pid)]).returncode == 0

    def status(self) -> dict[str, Any]:
        done = corridor("lab", "status", "--json", *self.args())
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def counters(self, host: str) -> dict[str, int]:
        """Packets of each counted rule on `host`, read with nft where the lab lives (a
        `lab status` is dearer under emulation: a Python start and every host's tables)."""
        found: dict[str, int] = {}
        for table in (ALLOWLIST, report.LAB_TABLE):
            for c in rule_counters(self.table(host, table)):
                found[c.rule] = found.get(c.rule, 0) + c.packets
        return found

    def table(self, host: str, table: str) -> dict[str, Any]:
        """nft's JSON listing of a table on `host` (empty when it is not loaded there)."""
        done = self.inside(["ip", "netns", "exec", self.ns(host), "nft", "-j", "list",
                            "table", "inet", table])
        return json.loads(done.stdout) if done.returncode == 0 else {}

    def counter(self, host: str, rule: str) -> int:
        return self.counters(host).get(rule, 0)

    def tunnel(self, partner: str) -> dict[str, Any]:
        return next(t for t in self.status()["tunnels"] if t["partner"] == partner)

    def python_argv(self) -> list[str]:
        """Python where the lab lives, run as the lab runs its servers there."""
        return remote.python_argv() if self.vm else [sys.executable]

    def corridor_argv(self, *args: str) -> list[str]:
        return [*self.python_argv(), "-m", "corridor", *args]

    def corridor(self, *args: str, ns: str | None = None,
                 timeout: float = 600) -> subprocess.CompletedProcess[str]:
        argv = self.corridor_argv(*args)
        if ns is not None:
            argv = ["ip", "netns", "exec", self.ns(ns), *argv]
        return self.inside(argv, timeout)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def pair_site(tmp: Path) -> Path:
    """The demo site with two partners only, PayFast (sends, from IN) and MobiCash (pays
    out, in KE): half the partner gateways and applications to start under emulation,
    and every flow the tests look at. PayFast's allowlist holds its application's address
    only (ALLOWED), narrower than its tunnel's subnet: a host of that subnet is inside the
    tunnel and outside the allowlist."""
    site = copy_site(tmp)
    payfast = site / "partners" / "payfast.yaml"
    text = payfast.read_text()
    assert "allowed_ips: [127.0.0.1/32, 10.20.1.0/24]" in text
    payfast.write_text(text.replace("allowed_ips: [127.0.0.1/32, 10.20.1.0/24]",
                                    f"allowed_ips: [127.0.0.1/32, {ALLOWED}/32]"))
    for gone in ("desertx", "islapay"):
        (site / "partners" / f"{gone}.yaml").unlink()
    hub = site / "hub.yaml"
    lines = hub.read_text().splitlines(keepends=True)
    hub.write_text("".join(ln for ln in lines
                           if "{corridor: " not in ln or "{corridor: IN-KE," in ln))
    return site


@contextmanager
def vm_lab(tmp: Path, tag: str) -> Iterator[VMLab]:
    need_root()
    need_tool(*TOOLS, "tcpdump", "curl")
    in_vm = not esp_support().available
    if in_vm:
        need_tool("qemu-system-x86_64", "busybox")
        need(shutil.which("vng", path=str(Path(sys.executable).parent)) is not None,
             "needs virtme-ng (make deps installs it)")
        need(any(Path("/boot").glob("vmlinuz-*")), "needs a kernel image in /boot "
             "(make system-deps installs linux-image-amd64)")
    site = pair_site(tmp)
    name = lab_name(tag)
    lab = VMLab(name, site, remote.lab_vm(name).state_dir if in_vm else tmp, in_vm,
                plan(load_site(site)))
    try:
        done = corridor("lab", "up", "--site", site, *lab.args(), timeout=UP_S)
        assert done.returncode == 0, done.stdout + done.stderr
        print(f"\n{done.stderr}")
        yield lab
    finally:
        corridor("lab", "down", *lab.args())
