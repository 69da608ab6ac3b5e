"""The lab VM: booted once for this module with Debian's kernel, it runs the host's commands
(from this process and from another one), has ESP where the host may not, carries ping
between two pluto peers' subnets through ESP, and `down` leaves nothing behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.lab.errors import LabError
from corridor.lab.vm import LabVM, kernel_image
from tests.support import REPO, need, need_root, need_tool


def _mentioning(path: Path) -> list[int]:
    """Live host processes whose command line names `path` or a path inside it."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and any(a == bytes(path) or a.startswith(bytes(path) + b"/")
                                or bytes(path) + b"," in a for a in args):
            found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabVM]:
    need_root()
    need_tool("qemu-system-x86_64", "busybox", "ssh", "ssh-keygen", "ip", "ipsec", "certutil")
    need(shutil.which("vng", path=str(Path(sys.executable).parent)) is not None,
         "needs virtme-ng (make deps installs it)")
    need(any(Path("/boot").glob("vmlinuz-*")), "needs a kernel image in /boot "
         "(make system-deps installs linux-image-amd64)")
    work = tmp_path_factory.mktemp("lab")
    machine = LabVM(work / "vm")
    boot = machine.boot(share=[work])
    print(f"\nlab VM booted in {boot.seconds}s ({'KVM' if boot.kvm else 'emulated'}"
          f"{'; KVM refused: ' + boot.kvm_refused if boot.kvm_refused else ''})")
    try:
        yield machine
    finally:
        machine.down()


def test_commands_run_inside_with_their_output_and_exit_code(vm: LabVM) -> None:
    done = vm.run(["sh", "-c", "uname -r; cat; echo complaint >&2; exit 3"], input="hello\n")
    assert done.returncode == 3
    assert done.stdout.splitlines() == [kernel_image().name.removeprefix("vmlinuz-"), "hello"]
    assert done.stderr.strip() == "complaint"
    assert vm.run(["pwd"], cwd=REPO).stdout.strip() == str(REPO)
    # Sockets and `ip netns` need tmpfs, which the shared filesystem is not.
    fs = vm.run(["stat", "-f", "-c", "%T", "/run/corridor-lab", "/run/netns"]).stdout.split()
    assert fs == ["tmpfs", "tmpfs"]
    assert vm.run(["ip", "netns", "add", "corridor-vm-test"]).returncode == 0
    assert "corridor-vm-test" in vm.run(["ip", "netns", "list"]).stdout
    assert vm.run(["ip", "netns", "del", "corridor-vm-test"]).returncode == 0


def test_another_process_reaches_the_running_vm(vm: LabVM) -> None:
    # What `corridor lab status` does after `corridor lab up` has returned.
    code = ("import sys; from pathlib import Path; from corridor.lab.vm import LabVM; "
            "vm = LabVM(Path(sys.argv[1])); print(vm.status().running); "
            "print(vm.run(['cat', '/proc/sys/kernel/hostname']).stdout.strip())")
    out = subprocess.run([sys.executable, "-c", code, str(vm.state_dir)], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout.split()
    assert out[0] == "True" and out[1] == "virtme-ng"


def test_the_vm_kernel_carries_esp_with_the_project_venv(vm: LabVM) -> None:
    done = vm.run([sys.executable, "-m", "corridor.lab.kernel"], cwd=REPO)
    assert (done.returncode, done.stdout.strip()) == (
        0, "ESP: yes: the kernel installed an ESP security association"), done.stderr


def test_down_stops_the_vm_and_leaves_nothing_even_from_another_process(vm: LabVM) -> None:
    qemu = vm.status().pid
    assert qemu is not None and qemu in _mentioning(vm.state_dir)
    # A fresh object, as `corridor lab down` after a crash of whatever booted the VM.
    assert LabVM(vm.state_dir).down() is True
    assert _mentioning(vm.state_dir) == []
    assert not vm.state_dir.exists()
    assert vm.down() is False and LabVM(vm.state_dir).down() is False
    with pytest.raises(LabError, match="no lab VM is running"):
        vm.run(["true"])


def test_boot_refuses_in_one_line_what_it_cannot_do(tmp_path: Path) -> None:
    machine = LabVM(tmp_path / "vm")
    with pytest.raises(LabError, match=r"^no kernel image at /nonexistent/vmlinuz$"):
        machine.boot(kernel=Path("/nonexistent/vmlinuz"))
    with pytest.raises(LabError, match=r"cannot share /tmp/has space"):
        machine.boot(share=[Path("/tmp/has space")])
    assert not (tmp_path / "vm").exists()


def test_down_finds_the_vms_processes_by_their_state_directory(tmp_path: Path) -> None:
    # After a crash only the state directory is known: down stops every process naming
    # it, and spares a neighbour whose path merely begins alike.
    def idle(arg: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(arg)])

    ours, neighbour = idle(tmp_path / "vm" / "qemu.pid"), idle(tmp_path / "vm2" / "qemu.pid")
    try:
        (tmp_path / "vm").mkdir()
        assert LabVM(tmp_path / "vm").down() is True
        assert ours.wait(timeout=30) != 0
        assert neighbour.poll() is None
        assert not (tmp_path / "vm").exists()
    finally:
        for proc in (ours, neighbour):
            proc.kill()
            proc.wait()
