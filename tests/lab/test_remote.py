"""`corridor lab up --vm` (what `lab up` does by itself where this kernel has no ESP)
refuses in one line, before booting anything, what it cannot do: a site colliding with this
machine's addresses, a missing kernel image, a missing QEMU. `lab down` is safe with no
VM, and after a VM crashed (a state directory and a process left behind)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from corridor.lab import remote
from corridor.lab.state import DEFAULT_ROOT
from tests.lab.rig import COLLISION, TOOLS, colliding_machine, corridor, lab_name, namespaces
from tests.support import copy_site, need_root, need_tool


def _nothing_made(name: str) -> None:
    assert namespaces(f"{name}-") == []
    assert not (DEFAULT_ROOT / name).exists()
    assert not remote.lab_vm(name).state_dir.exists()


def test_a_lab_colliding_with_this_machine_is_refused_before_the_vm_boots(
        tmp_path: Path) -> None:
    need_root()
    need_tool(*TOOLS)
    with colliding_machine("vm") as machine:
        name = lab_name("vcol")
        done = subprocess.run(
            ["ip", "netns", "exec", machine, sys.executable, "-m", "corridor", "lab", "up",
             "--vm", "--site", str(copy_site(tmp_path)), "--name", name],
            capture_output=True, text=True, timeout=300)
        assert done.returncode == 1
        assert done.stderr.splitlines() == [COLLISION]
        _nothing_made(name)


def test_a_missing_kernel_image_is_one_line(tmp_path: Path) -> None:
    need_root()
    need_tool(*TOOLS)
    name = lab_name("vker")
    done = corridor("lab", "up", "--vm", "--kernel", tmp_path / "vmlinuz", "--site",
                    copy_site(tmp_path), "--name", name)
    assert (done.returncode, done.stderr.splitlines()) == (
        1, [f"error: no kernel image at {tmp_path}/vmlinuz"])
    _nothing_made(name)


def test_a_missing_qemu_is_one_line(tmp_path: Path) -> None:
    """A PATH holding every tool of the lab but QEMU."""
    need_root()
    need_tool(*TOOLS, "busybox")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in (*TOOLS, "sysctl", "busybox"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    name = lab_name("vqemu")
    done = subprocess.run(
        [sys.executable, "-m", "corridor", "lab", "up", "--vm", "--site",
         str(copy_site(tmp_path)), "--name", name], capture_output=True, text=True,
        timeout=300, env={**os.environ, "PATH": str(bin_dir)})
    assert (done.returncode, done.stderr.splitlines()) == (
        1, ["error: qemu-system-x86_64 is not installed (make system-deps installs "
            "qemu-system-x86)"])
    _nothing_made(name)


def test_down_is_safe_with_no_vm_and_after_a_vm_crashed() -> None:
    need_root()
    need_tool(*TOOLS)
    name = lab_name("vdown")
    nothing = corridor("lab", "down", "--name", name)
    assert (nothing.returncode, nothing.stdout.strip()) == (0, f"lab {name}: nothing to remove")
    # What a crash leaves: the VM's state directory and a process naming it (as QEMU
    # names its pid file there), the pid file pointing at a process long gone.
    state_dir = remote.lab_vm(name).state_dir
    state_dir.mkdir(parents=True)
    (state_dir / "qemu.pid").write_text("999999\n")
    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                             f"-pidfile={state_dir}/qemu.pid"])
    try:
        done = corridor("lab", "down", "--name", name)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            f"lab VM stopped, and the lab inside it ({state_dir})"]
        assert left.wait(timeout=60) != 0
        _nothing_made(name)
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()
