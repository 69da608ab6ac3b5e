"""The lab VM: booted once for this module with Debian's kernel, it runs the host's commands
(from this process and from another one), has ESP where the host may not, carries ping
between two pluto peers' subnets through ESP, and `down` leaves nothing behind.

Each test's VM time is printed (`pytest -s`): this is where the boot and tunnel figures
come from."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.lab.errors import LabError
from corridor.lab.vm import RUN_DIR, LabVM, kernel_image
from corridor.net.libreswan import hub_files, kit_files
from corridor.net.vpnfiles import write_files
from corridor.site import load_site
from tests.net.test_render import make_psks
from tests.support import REPO, copy_site, need, need_root, need_tool, wait_for

# The boot's own deadline (LabVM.boot) bounds a hang; an emulated boot on a loaded machine
# can take minutes, so the per-test guard is widened to stay out of its way.
pytestmark = pytest.mark.timeout(900)


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
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host directory the VM shares read-write."""
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def vm(work: Path) -> Iterator[LabVM]:
    need_root()
    need_tool("qemu-system-x86_64", "busybox", "ssh", "ssh-keygen", "ip", "ipsec", "certutil")
    need(shutil.which("vng", path=str(Path(sys.executable).parent)) is not None,
         "needs virtme-ng (make deps installs it)")
    need(any(Path("/boot").glob("vmlinuz-*")), "needs a kernel image in /boot "
         "(make system-deps installs linux-image-amd64)")
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


def test_two_pluto_peers_carry_ping_between_their_subnets_through_esp(
        vm: LabVM, work: Path) -> None:
    # Both ends rendered by the project's generator from the demo site: the hub's conn for
    # PayFast (as `vpn apply` writes it) and PayFast's kit (as `vpn kit` gives it).
    site_dir = copy_site(work)
    make_psks(site_dir)
    site = load_site(site_dir)
    write_files({n: f for n, f in hub_files(site, "corridor-hub").items()
                 if f.partner == "payfast"}, work / "hub")
    write_files(kit_files(site, site.partners["payfast"], with_psk=True), work / "payfast")
    started = time.monotonic()
    made = vm.run(["sh", "tests/lab/tunnel.sh", str(work)], cwd=REPO)
    assert made.returncode == 0, made.stderr
    ends = {"hub": ("lab-hub", "payfast"), "payfast": ("lab-payfast", "corridor-hub")}

    def ctl(end: str) -> str:
        return f"{RUN_DIR}/tunnel/{ends[end][0]}/run/pluto.ctl"

    def whack(end: str, *args: str) -> str:
        return vm.run(["ipsec", "whack", "--ctlsocket", ctl(end), *args]).stdout

    for end, (_, conn) in ends.items():
        wait_for(lambda e=end: vm.run(["test", "-S", ctl(e)]).returncode == 0, 120, 0.5,
                 what=f"{end}'s pluto control socket")
        loaded = vm.run(["/usr/libexec/ipsec/addconn", "--ctlsocket", ctl(end),
                         "--config", str(work / end / f"{conn}.conf"), conn])
        assert loaded.returncode == 0, loaded.stderr
    # The partner dials, as partners do; from both ends at once the SAs would cross.
    whack("payfast", "--initiate", "--asynchronous", "--name", "corridor-hub")
    wait_for(lambda: all("type=ESP" in whack(end, "--trafficstatus") for end in ends), 300, 1,
             what="the Child SA (ESP) at both ends")
    print(f"\ntunnel up {time.monotonic() - started:.1f}s after the namespaces were asked for")

    ping = vm.run(["ip", "netns", "exec", "lab-hub", "ping", "-c", "3", "-W", "30",
                   "-I", "10.99.0.1", "10.20.1.1"])
    assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout + ping.stderr
    for end in ends:
        status = whack(end, "--trafficstatus")
        moved = [(int(i), int(o)) for i, o in re.findall(r"inBytes=(\d+), outBytes=(\d+)", status)]
        assert any(i > 0 and o > 0 for i, o in moved), status
    # The kernel's own counters agree: ESP SAs between the public addresses carried bytes.
    xfrm = vm.run(["ip", "-s", "-n", "lab-hub", "xfrm", "state"]).stdout
    assert "src 198.51.100.20 dst 203.0.113.10\n\tproto esp" in xfrm, xfrm
    counted = [int(n) for n in re.findall(r"lifetime current:\s+(\d+)\(bytes\)", xfrm)]
    assert any(n > 0 for n in counted), xfrm


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


def test_boot_refuses_in_one_line_what_it_cannot_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = LabVM(tmp_path / "vm")
    with pytest.raises(LabError, match=r"^no kernel image at /nonexistent/vmlinuz$"):
        machine.boot(kernel=Path("/nonexistent/vmlinuz"))
    with pytest.raises(LabError, match=r"^the lab VM cannot share /tmp/has space: use a path"):
        machine.boot(share=[Path("/tmp/has space")])
    with pytest.raises(LabError, match=rf"^the lab VM cannot share {tmp_path}/gone: not a dir"):
        machine.boot(share=[tmp_path / "gone"])
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match=r"^qemu-system-x86_64 is not installed \(make system-d"):
        machine.boot(kernel=Path(sys.executable))  # any file: QEMU is missing first
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
