"""A stock OpenSSH server started on a loopback port with its own configuration and keys.

The bench runs one as the reference ProxyJump and as the managed host behind it; the tests
run them as managed hosts. Nothing of the system's sshd setup is touched beyond creating
sshd's privilege-separation directory.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from corridor.ports import free_port


def keygen(path: Path, comment: str = "corridor") -> str:
    """A fresh ed25519 key pair at `path` (private 0600); returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return Path(f"{path}.pub").read_text().strip()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port} after {timeout}s")
        time.sleep(0.02)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class StockSshd:
    """`sshd -D -e -f CONFIG` on 127.0.0.1:<free port>, trusting `authorized` keys."""

    def __init__(self, root: Path, authorized: list[str], extra: str = "") -> None:
        self.root = root
        self.authorized = authorized
        self.extra = extra
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> StockSshd:
        self.root.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        host_key = self.root / "host_ed25519"
        if not host_key.exists():
            keygen(host_key, "host")
        auth = self.root / "authorized_keys"
        auth.write_text("\n".join(self.authorized) + "\n")
        self.port = free_port()
        config = self.root / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
            f"AuthorizedKeysFile {auth}\nPidFile none\nUsePAM no\nStrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
            "LogLevel ERROR\n" + self.extra
        )
        with open(self.root / "sshd.log", "wb") as log:
            self.proc = subprocess.Popen(
                [shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        wait_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
