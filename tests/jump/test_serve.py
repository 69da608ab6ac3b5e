"""Starting the bastion with bad input, and pinning of managed hosts' keys."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.jump.rig import Jump


def serve(site: Path, data: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "corridor", "serve", "jump", "--site", str(site), "--data",
         str(data), *extra], capture_output=True, text=True, timeout=60,
    )


def test_a_faulty_site_does_not_start(site_dir: Path, tmp_path: Path) -> None:
    (site_dir / "access.yaml").write_text("roles: {ops: {hosts: {nowhere: [22]}}}\nadmins: []\n")
    done = serve(site_dir, tmp_path / "var")
    assert done.returncode == 2
    assert done.stderr == f"{site_dir}/access.yaml:1: role 'ops' names unknown host 'nowhere'\n"


def test_a_busy_port_is_a_clear_error(site_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = serve(site_dir, tmp_path / "var", "--listen", f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}:")
    assert "Traceback" not in done.stderr
    bad = serve(site_dir, tmp_path / "var", "--listen", "nowhere")
    assert (bad.returncode, bad.stderr) == (1, "error: --listen must read HOST:PORT, "
                                               "not 'nowhere'\n")


def test_a_changed_host_key_on_a_managed_host_is_refused(jump: Jump) -> None:
    assert jump.ssh("asha", "jump", "txn", "true").returncode == 0  # pins the key
    known = jump.data / "jump" / "known_hosts.json"
    pinned = json.loads(known.read_text())
    entry = f"127.0.0.1:{jump.target_port}"
    assert pinned[entry].startswith("ssh-ed25519 ")
    other = (jump.data / "jump" / "host_ed25519.pub").read_text().strip()
    known.write_text(json.dumps({**pinned, entry: other}))
    try:
        done = jump.ssh("asha", "jump", "txn", "true")
        assert done.returncode == 255
        assert "host key of 127.0.0.1" in done.stderr and "changed" in done.stderr
        assert jump.audit_has(event="host_key_mismatch", to=entry)
    finally:
        known.write_text(json.dumps(pinned))
    assert jump.ssh("asha", "jump", "txn", "true").returncode == 0
