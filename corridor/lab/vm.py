"""The lab VM: Debian's stock kernel booted by virtme-ng over a view of the host's own
filesystem, for when the running kernel has no ESP (`corridor.lab.kernel`).

`LabVM(state_dir)` is one VM whose every trace lives in `state_dir` (the caller's, e.g.
`var/lab/vm`): `boot` starts it and returns once it answers, and it stays up after the
booting process exits; `run` runs a command inside it from any later process; `down`
stops it and removes `state_dir`, whatever state a crash left behind.

Inside, the host's filesystem is seen read-only at the same paths (so the project's venv,
Libreswan and OpenSSH run unchanged), `state_dir` and the directories given to `boot` are
shared read-write, and `RUN_DIR` is a tmpfs for what the 9p share cannot hold (UNIX
sockets: pluto's run directory, control sockets); `/run/netns` is on tmpfs for `ip netns`.

Control channel, chosen for being the simplest one that is robust here: OpenSSH. The VM's
init command starts `sshd` on the NIC of a QEMU user network, whose port 22 QEMU forwards
from 127.0.0.1:<port> on the host; the host runs `ssh` with a key made for this VM and
checks the VM's own host key. Why not the others:
- a UNIX socket on the shared filesystem: 9p cannot hold one;
- vsock: needs /dev/vhost-vsock, which this host does not have;
- a virtio-serial port: one byte stream, so concurrent commands would need a framing and
  multiplexing protocol of our own;
- a spool of request files on the share: polling, and exit codes, streaming and
  cancellation all hand-made;
- a home-made agent on the forwarded TCP port: any local user can reach 127.0.0.1, and
  the VM writes as root into the host's shared directories, so the channel must
  authenticate; SSH does that, streams output, carries stdin and exit codes, and needs no
  Python on the guest's side of each command (Python runs ~7x slower under emulation).

QEMU runs with KVM when a bare QEMU boots the kernel with it (`kvm_refusal`: nested KVM
aborts with "failed to set MSR 0x10a" on some machines and hangs silently on others), and
falls back to software emulation
when that is refused or when the KVM boot dies before answering. Every wait is on a
condition (the VM answers, or its process is gone) under a deadline that only bounds a
hang.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from corridor.jump.sshd import keygen
from corridor.lab.errors import LabError
from corridor.net.runner import first_complaint
from corridor.pki.files import write_atomic
from corridor.ports import free_port

RUN_DIR = Path("/run/corridor-lab")  # tmpfs inside the VM: run directories and sockets
MEMORY = "2G"
QEMU = "qemu-system-x86_64"
KVM_BOOT_S = 90.0  # a KVM boot of the lab VM answers in seconds
KVM_PROBE_S = 10.0  # a KVM boot prints its first line in well under a second
SSHD = "/usr/sbin/sshd"
MAC = "52:54:00:c0:44:01"  # the control NIC's, by which the guest finds it (names vary)
GUEST_IP = "10.0.2.15"  # QEMU user networking's guest address
HOST_ALIAS = "corridor-lab"  # the VM's name in its known_hosts file
# Paths reach virtme-ng's command line through a shell, and QEMU's option syntax after it.
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9._/+@:-]*$")
# What ssh itself says when it, not the command inside, failed (it then exits 255).
_SSH_FAILURES = ("ssh:", "connection refused", "connection reset", "connection closed",
                 "kex_exchange_identification", "permission denied (publickey",
                 "host key verification failed", "timed out")

_CACHE_TAG = "corridorro"  # the 9p mount tags of cached directories: corridorro0, ...
# A UNIX socket's path holds 107 bytes, and ssh first binds a name 17 longer.
_CONTROL_PATH_MAX = 107 - 17
# Answers after which asking again is pointless.
_REFUSALS = ("permission denied", "host key verification failed")


@dataclass(frozen=True, slots=True)
class Boot:
    """How a boot went: whether KVM runs it, how long until it answered, and why KVM was
    given up when it was."""

    kvm: bool
    seconds: float
    kvm_refused: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    running: bool
    pid: int | None  # QEMU's
    port: int | None  # the control channel's, on 127.0.0.1
    kvm: bool | None
    console: Path


class LabVM:
    """One lab VM and its state directory (pid file, keys, console log, boot script)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(os.path.abspath(state_dir))
        self.console = self.state_dir / "console.log"  # virtme-ng's and QEMU's output
        self.guest_log = self.state_dir / "guest.log"  # the VM's init command's output
        self._pidfile = self.state_dir / "qemu.pid"  # written by QEMU itself
        self._record = self.state_dir / "vm.json"
        self._key = self.state_dir / "id_ed25519"
        self._known_hosts = self.state_dir / "known_hosts"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- boot ---------------------------------------------------------------------------

    def boot(self, share: Sequence[Path] = (), *, cache: Sequence[Path] = (),
             memory: str = MEMORY, cpus: int | None = None, kernel: Path | None = None,
             deadline: float = 600.0) -> Boot:
        """Start the VM and return once it runs commands; it outlives this process.

        `share` are host directories the VM may write (the state directory always is).
        `cache` are host directories the VM reads often and nobody changes while it runs
        (the Python installation and the project's code): the VM sees them as they were
        when it booted, read-only, cached in its own memory (see `_mounts`).
        `deadline` bounds a boot that hangs; a boot that fails ends the wait at once."""
        shared = [self.state_dir, *(Path(os.path.abspath(d)) for d in share)]
        cached = [Path(os.path.abspath(d)) for d in cache]
        for path in [*shared, *cached]:
            _check_plain(path)
        for path in cached:
            if not path.is_dir():
                raise LabError(f"the lab VM cannot cache {path}: not a directory")
        for path in shared[1:]:
            if not path.is_dir():
                raise LabError(f"the lab VM cannot share {path}: not a directory")
        image, vng = self.check(kernel)
        if self.status().running:
            raise LabError(f"a lab VM is already running from {self.state_dir}; "
                           "stop it first (`corridor lab down`)")
        self.down()  # whatever a crashed run left behind
        self.state_dir.mkdir(parents=True, mode=0o700)
        self._write_keys()
        self._write_boot_script(cached)
        started = time.monotonic()
        end = started + deadline
        refused = _remembered_kvm_refusal(self.state_dir.parent / "kvm-probe.json", image)
        for kvm in (True, False) if refused is None else (False,):
            port = free_port()
            # QEMU reopens its stdout and stderr by path, truncating: one console per try.
            with self.console.open("wb") as log:
                self._proc = subprocess.Popen(
                    self._vng_argv(vng, image, shared, cached, port, kvm, memory,
                                   cpus or _cpus()),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/",
                    env=_env(), start_new_session=True)
            _write_json(self._record, {"leader": self._proc.pid, "port": port, "kvm": kvm,
                                       "kernel": str(image)})
            # A KVM boot answers in seconds; one still silent after KVM_BOOT_S hangs.
            if self._await_answer(self._proc, min(end, time.monotonic() + KVM_BOOT_S)
                                  if kvm else end, stop_late=not kvm):
                return Boot(kvm, round(time.monotonic() - started, 1), refused)
            if self._proc.poll() is None:
                self._stop()
            self._proc.wait()
            why = _complaint(_read_text(self.console) + _read_text(self.guest_log))
            if kvm:
                refused = why
                self.console.replace(self.state_dir / "console-kvm.log")
                continue
            raise LabError(f"the lab VM stopped while booting: {why} (console: {self.console})")
        raise LabError(f"the lab VM could not boot (console: {self.console})")  # unreachable

    def check(self, kernel: Path | None = None) -> tuple[Path, str]:
        """What a boot needs from this machine, checked before anything is made: the
        kernel image (`kernel`, or the newest in /boot), virtme-ng, QEMU and the tools of
        the control channel. Returns the image and virtme-ng's path."""
        image = kernel or kernel_image()
        if not image.is_file():
            raise LabError(f"no kernel image at {image}")
        vng = _tool_path("vng")
        _check_tools()
        return image, vng

    def _vng_argv(self, vng: str, image: Path, shared: list[Path], cached: list[Path],
                  port: int, kvm: bool, memory: str, cpus: int) -> list[str]:
        qemu = (f"-pidfile {self._pidfile} "
                f"-netdev user,id=corridorctl,hostfwd=tcp:127.0.0.1:{port}-{GUEST_IP}:22 "
                f"-device virtio-net-pci,netdev=corridorctl,mac={MAC}")
        for i, path in enumerate(cached):
            qemu += (f" -virtfs local,path={path},mount_tag={_CACHE_TAG}{i},"
                     "security_model=none,readonly=on")
        argv = [vng, "--run", str(image), "--user", "root", "--memory", memory,
                "--cpus", str(cpus), "--disable-microvm"]  # q35: the NIC above is PCI
        for path in shared:
            argv += ["--rwdir", str(path)]
        if not kvm:
            argv.append("--disable-kvm")
        return [*argv, f"--qemu-opts={qemu}", "--exec", f"sh {self.state_dir}/boot.sh"]

    def _await_answer(self, proc: subprocess.Popen[bytes], end: float,
                      stop_late: bool = True) -> bool:
        """True once the VM runs a command; False when its process ended first, or when
        `end` passed and not `stop_late` (the caller stops it)."""
        while proc.poll() is None:
            if "corridor-lab: ready" in _read_text(self.guest_log) and self._answers():
                return True
            if time.monotonic() > end:
                if not stop_late:
                    return False
                self._stop()
                raise LabError(f"the lab VM did not answer before the deadline "
                               f"(console: {self.console})")
            time.sleep(0.5)
        return False

    def _answers(self) -> bool:
        try:
            proc = subprocess.run(self.ssh_argv("true"), capture_output=True, text=True,
                                  timeout=120)
        except subprocess.TimeoutExpired:
            return False
        if any(refusal in proc.stderr.lower() for refusal in _REFUSALS):
            self._stop()
            raise LabError(f"the lab VM refused the host: {_complaint(proc.stderr)} "
                           f"(log: {self.guest_log})")
        return proc.returncode == 0

    def _write_keys(self) -> None:
        pub = keygen(self._key, "corridor-lab-host")
        host = keygen(self.state_dir / "ssh_host_ed25519_key", "corridor-lab-vm")
        (self.state_dir / "authorized_keys").write_text(pub + "\n")
        self._known_hosts.write_text(f"{HOST_ALIAS} {host}\n")
        (self.state_dir / "sshd_config").write_text(
            f"ListenAddress {GUEST_IP}:22\n"
            f"HostKey {RUN_DIR}/ssh/ssh_host_ed25519_key\n"
            f"AuthorizedKeysFile {RUN_DIR}/ssh/authorized_keys\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            # PAM, as virtme-ng's own sshd set-up has it: without, sshd turns root away
            # because root's password is locked.
            "KbdInteractiveAuthentication no\nUsePAM yes\nPidFile none\nPrintMotd no\n")

    def _write_boot_script(self, cached: list[Path]) -> None:
        # virtme-ng runs it as the VM's one command; the VM powers off when it ends.
        script = f"""#!/bin/sh
# The lab VM's init command, written by corridor.lab.vm for {self.state_dir}.
set -eu
exec >>{self.guest_log} 2>&1
echo "corridor-lab: init command at $(cut -d' ' -f1 /proc/uptime)s"
run={RUN_DIR}
mkdir -p "$run" /run/netns
mountpoint -q "$run" || mount -t tmpfs -o mode=0755 corridor-lab "$run"
modprobe virtio_net
udevadm settle || true
dev=""
for d in /sys/class/net/*; do
  [ "$(cat "$d/address")" = "{MAC}" ] && dev="${{d##*/}}"
done
[ -n "$dev" ] || {{ echo "corridor-lab: no NIC with MAC {MAC}" >&2; exit 1; }}
ip link set lo up
ip link set "$dev" up
ip addr add {GUEST_IP}/24 dev "$dev"
{_mounts(cached)}
# ctypes.util.find_library runs the C compiler, then the linker, for a library ldconfig
# does not know (asyncssh asks for liboqs at import): seconds each under emulation. The
# lab has no use for them: this VM's view of them is hidden (the host's are untouched).
for tool in gcc cc ld; do
  path=$(command -v $tool) && mount --bind /dev/null "$path" || true
done
# Commands from the host run under /bin/sh with a home on tmpfs, not under the host's
# root shell and its dotfiles (slow under emulation, and written for the host). /etc is
# the VM's own copy-on-write view: the host's file is not touched.
mkdir -p -m 0700 "$run/root"
sed -i "s#^root:\\([^:]*:[^:]*:[^:]*:[^:]*\\):.*#root:\\1:$run/root:/bin/sh#" /etc/passwd
mkdir -p -m 0755 /run/sshd
rm -f /run/nologin  # PAM would print "System is booting up" into every command's stderr
mkdir -m 0700 "$run/ssh"
cp {self.state_dir}/ssh_host_ed25519_key {self.state_dir}/authorized_keys \\
   {self.state_dir}/sshd_config "$run/ssh/"
chmod 0600 "$run/ssh/ssh_host_ed25519_key"
echo "corridor-lab: ready, $(cut -d' ' -f1 /proc/uptime)s after the kernel started"
exec {SSHD} -D -e -f "$run/ssh/sshd_config"
"""
        (self.state_dir / "boot.sh").write_text(script)

    # -- use ----------------------------------------------------------------------------

    def status(self) -> Status:
        record = _read_json(self._record)
        pid = _read_pid(self._pidfile)
        alive = pid is not None and self._ours(pid)
        port, kvm = record.get("port"), record.get("kvm")
        return Status(alive, pid if alive else None, port if isinstance(port, int) else None,
                      kvm if isinstance(kvm, bool) else None, self.console)

    def ssh_argv(self, command: str | None = None, *, tty: bool = False) -> list[str]:
        """The host's `ssh` into the VM, as root, running `command` (a shell line) or, with
        none, a login shell; `tty` asks for a terminal (for an interactive shell)."""
        port = self.status().port
        if port is None:
            raise LabError(f"no lab VM here ({self.state_dir}); `corridor lab up` starts it")
        opts = {"IdentitiesOnly": "yes", "BatchMode": "yes", "StrictHostKeyChecking": "yes",
                "UserKnownHostsFile": str(self._known_hosts), "GlobalKnownHostsFile": "/dev/null",
                "HostKeyAlias": HOST_ALIAS, "LogLevel": "ERROR", "ConnectTimeout": "60",
                # a VM that stops answering ends the command instead of hanging it
                "ServerAliveInterval": "15", "ServerAliveCountMax": "8"}
        control = self.state_dir / "ssh.ctl"
        if len(str(control)) <= _CONTROL_PATH_MAX:
            # One SSH connection carries every command until `down`: a handshake costs
            # seconds under emulation. The socket is on the host's own filesystem.
            opts |= {"ControlMaster": "auto", "ControlPath": str(control),
                     "ControlPersist": "yes"}
        argv = ["ssh", "-F", "/dev/null", "-i", str(self._key), "-p", str(port),
                "-tt" if tty else "-T"]
        for key, value in opts.items():
            argv += ["-o", f"{key}={value}"]
        argv.append("root@127.0.0.1")
        return [*argv, command] if command is not None else argv

    def run(self, argv: Sequence[str], *, input: str | None = None, cwd: Path | None = None,
            capture: bool = True, timeout: float | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run `argv` as root inside the VM and return its exit code and, with `capture`,
        its output (otherwise it goes to this process's stdout and stderr as it comes).
        Raises LabError when the VM cannot be reached, not when the command fails."""
        if not self.status().running:
            raise LabError(f"no lab VM is running from {self.state_dir}; "
                           "`corridor lab up` starts it")
        command = shlex.join(argv)
        if cwd is not None:
            command = f"cd {shlex.quote(str(cwd))} && {command}"
        try:
            proc = subprocess.run(self.ssh_argv(command), input=input, text=True,
                                  capture_output=capture, timeout=timeout,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise LabError(f"{argv[0]} did not finish inside the lab VM within "
                           f"{timeout:.0f}s") from None
        if proc.returncode == 255 and capture and _ssh_failed(proc.stderr):
            raise LabError(f"cannot reach the lab VM: {first_complaint(proc.stderr)}")
        return proc

    # -- down ---------------------------------------------------------------------------

    def down(self, grace: float = 30.0) -> bool:
        """Stop the VM and remove the state directory. Safe to repeat, and after a crash:
        it stops every process whose command line names the state directory (virtme-ng,
        QEMU, ssh into the VM). True when there was something to stop."""
        stopped = self._stop(grace)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        if self.state_dir.exists():
            raise LabError(f"cannot remove {self.state_dir}")
        return stopped

    def _stop(self, grace: float = 30.0) -> bool:
        pids = self._processes()
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            self._reap()
            end = time.monotonic() + wait
            while any(self._ours(p) for p in pids) and time.monotonic() < end:
                time.sleep(0.1)
                self._reap()
            if not any(self._ours(p) for p in pids):
                break
        left = [p for p in pids if self._ours(p)]
        if left:
            raise LabError(f"the lab VM's processes {left} did not stop")
        return bool(pids)

    def _reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None

    def _processes(self) -> list[int]:
        spared = _ancestry()  # never this process nor whatever started it
        return [pid for pid in _pids() if pid not in spared and self._ours(pid)]

    def _ours(self, pid: int) -> bool:
        """A live (not zombie) process whose command line names the state directory."""
        proc = Path(f"/proc/{pid}")
        try:
            if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
            args = proc.joinpath("cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError):
            return False
        return any(_names(arg, self.state_dir) for arg in args)


def _mounts(cached: list[Path]) -> str:
    """The boot script's lines mounting each cached directory over itself.

    virtme-ng shares the host's root over 9p without caching, so that the guest sees the
    host's changes at once; then every file lookup is a round trip to QEMU, and under
    emulation a Python start spends seconds on the stat calls of its imports (measured:
    `python -c pass` 6.6 s, `import corridor.cli` 16.7 s). The same directories mounted
    again with `cache=loose` keep their lookups and pages in the guest."""
    return "\n".join(
        f"mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=512000 "
        f"{_CACHE_TAG}{i} {path}" for i, path in enumerate(cached))


def kernel_image() -> Path:
    """The newest /boot/vmlinuz-* whose modules are installed (Debian's, for the VM: the
    host may run a kernel of its own that is not in /boot)."""
    found = [p for p in Path("/boot").glob("vmlinuz-*")
             if Path("/lib/modules", p.name.removeprefix("vmlinuz-")).is_dir()]
    if not found:
        raise LabError("no kernel image with its modules in /boot "
                       "(make system-deps installs linux-image-amd64)")
    return max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.name)])


def _remembered_kvm_refusal(record: Path, image: Path) -> str | None:
    """`kvm_refusal`, asked once per boot of this machine and kernel image: the answer
    cannot change until either does, and asking costs seconds where KVM hangs."""
    key = {"boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
           "image": str(image)}
    with contextlib.suppress(OSError, ValueError):
        seen = json.loads(record.read_text())
        if isinstance(seen, dict) and seen.get("key") == key:
            refusal = seen.get("refusal")
            return refusal if isinstance(refusal, str) else None
    refusal = kvm_refusal(image)
    with contextlib.suppress(OSError):
        _write_json(record, {"key": key, "refusal": refusal})
    return refusal


def kvm_refusal(image: Path) -> str | None:
    """None when QEMU under KVM runs `image` here, else why not. QEMU itself answers, in a
    fraction of a second when KVM works: the kernel's first console line. Nested KVM can
    fail two ways, both seen on such machines: QEMU aborts ("failed to set MSR 0x10a"), or
    the vCPU hangs once the boot loader hands over to the kernel, with no error at all;
    only a kernel that prints proves a vCPU runs."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "no usable /dev/kvm"
    argv = [QEMU, "-accel", "kvm", "-machine", "q35", "-cpu", "host", "-m", "256",
            "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", str(image), "-append", "console=ttyS0 panic=-1"]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    except OSError as exc:
        return f"QEMU could not be asked: {exc}"
    assert proc.stdout is not None
    seen = b""
    end = time.monotonic() + KVM_PROBE_S
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        while b"Linux version" not in seen and time.monotonic() < end:
            chunk = proc.stdout.read(4096)
            if chunk:
                seen += chunk
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    if b"Linux version" in seen:
        return None
    text = seen.decode(errors="replace")
    if proc.returncode not in (0, -signal.SIGKILL) or "error" in text.lower():
        return _complaint(text)
    return f"no kernel output under KVM within {KVM_PROBE_S:.0f} s (nested KVM hangs)"


def _check_tools() -> None:
    for tool, package in ((QEMU, "qemu-system-x86"), ("busybox", "busybox-static"),
                          ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client")):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is not installed (make system-deps installs {package})")
    if not os.access(SSHD, os.X_OK):
        raise LabError(f"{SSHD} is not installed (make system-deps installs openssh-server)")


def _tool_path(name: str) -> str:
    found = shutil.which(name, path=_env()["PATH"])
    if found is None:
        raise LabError(f"{name} (virtme-ng) is not installed (make deps installs it)")
    return found


def _env() -> dict[str, str]:
    # virtme-ng calls its own virtme-run by name: this environment's scripts come first.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def _check_plain(path: Path) -> None:
    if not _PLAIN_PATH.match(str(path)):
        raise LabError(f"the lab VM cannot share {path}: use a path of letters, digits "
                       "and ./_+@:- only (no spaces, commas, '=' or quotes)")


def _names(arg: str, directory: Path) -> bool:
    """Whether a command-line argument names `directory` or a path inside it, alone or in
    an option such as QEMU's `path=DIR,...` or virtme-ng's `--rwdir=DIR`."""
    d = re.escape(str(directory))
    return re.search(rf"(?:^|[=,\s]){d}(?:$|[/,\s])", arg) is not None


def _ancestry() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return pids


def _complaint(console: str) -> str:
    """The telling line of a failed boot: the first error, or else the last word."""
    lines = [ln.strip() for ln in console.splitlines() if ln.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[-1] if lines else "no output"


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _ssh_failed(stderr: str) -> bool:
    text = stderr.lower()
    return any(marker in text for marker in _SSH_FAILURES)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: dict[str, object]) -> None:
    write_atomic(path, (json.dumps(value) + "\n").encode())
