"""Bad input refused in one line with nothing made, and `lab down` that removes everything,
even when the builder was killed half-way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from corridor.lab.state import DEFAULT_ROOT, alive
from tests.lab.rig import COLLISION, TOOLS, colliding_machine, corridor, lab_name, namespaces
from tests.support import copy_site, need_root, need_tool, wait_for


def _nothing_made(name: str, root: Path) -> None:
    assert namespaces(f"{name}-") == []
    assert not (root / name).exists()


def test_overlapping_lab_addresses_are_refused_with_their_line(tmp_path: Path) -> None:
    need_root()
    site = copy_site(tmp_path)
    hub = site / "hub.yaml"
    hub.write_text(hub.read_text().replace("dmz: 10.98.0.0/24", "dmz: 10.20.0.0/16"))
    name, root = lab_name("bad"), DEFAULT_ROOT
    done = corridor("lab", "up", "--site", site, "--name", name, "--root", root, "--in-place")
    assert done.returncode == 2
    line = next(i for i, ln in enumerate(hub.read_text().splitlines(), 1) if "10.20.0.0/16" in ln)
    assert (f"{site}/hub.yaml:{line}: lab.segments.dmz 10.20.0.0/16 overlaps payfast's "
            "tunnel.partner_subnets 10.20.1.0/24 (partners/payfast.yaml:18)") in done.stderr
    assert "Traceback" not in done.stderr
    _nothing_made(name, root)


def test_a_lab_colliding_with_this_machine_is_refused_in_one_line(tmp_path: Path) -> None:
    """The builder's machine is the namespace it runs in: here one holding 10.98.1.77/24,
    inside the demo lab's core segment."""
    need_root()
    need_tool(*TOOLS)
    with colliding_machine("m") as machine:
        name, root = lab_name("col"), DEFAULT_ROOT
        done = subprocess.run(
            ["ip", "netns", "exec", machine, sys.executable, "-m", "corridor", "lab", "up",
             "--site", str(copy_site(tmp_path)), "--name", name, "--root", str(root),
             "--in-place"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1
        assert done.stderr.splitlines() == [COLLISION]
        _nothing_made(name, root)


def test_down_removes_everything_after_the_builder_is_killed(tmp_path: Path) -> None:
    need_root()
    need_tool(*TOOLS)
    name, root = lab_name("kill"), DEFAULT_ROOT
    state = root / name / "state.json"
    builder = subprocess.Popen(
        [sys.executable, "-m", "corridor", "lab", "up", "--site", str(copy_site(tmp_path)),
         "--name", name, "--root", str(root), "--in-place"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Killed once servers are running in the lab's hosts, half-way through the build.
        def servers_started() -> list[int]:
            try:
                procs = json.loads(state.read_text())["processes"]
            except (OSError, ValueError):
                return []
            return [p["pid"] for p in procs if p["what"] == "txn"]

        started = wait_for(servers_started, 300, 0.05, what="the builder to start TXN")
        builder.send_signal(signal.SIGKILL)
        builder.wait(10)
    finally:
        if builder.poll() is None:
            builder.kill()
    pids = [p["pid"] for p in json.loads(state.read_text())["processes"]]
    assert namespaces(f"{name}-") and any(alive(p) for p in pids)
    done = corridor("lab", "down", "--name", name, "--root", root, "--in-place")
    assert done.returncode == 0, done.stderr
    assert "deleted 18 namespace(s)" in done.stdout  # 16 + KenPay and its gateway
    assert not any(alive(p) for p in [*pids, *started])
    _nothing_made(name, root)
    # Down again, with nothing left: safe, and says so.
    again = corridor("lab", "down", "--name", name, "--root", root, "--in-place")
    assert (again.returncode, again.stdout.strip()) == (0, f"lab {name}: nothing to remove")
