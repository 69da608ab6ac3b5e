"""A client for a running pluto, through its control socket (`ipsec whack`, `addconn`).

The socket is a file, so a pluto inside a network namespace is reached the same way as
the host's own: only the path differs (`--ctlsocket RUNDIR/pluto.ctl`).
"""

from __future__ import annotations

from pathlib import Path

from corridor.net.errors import NetError
from corridor.net.runner import libexec, run

DEFAULT_CTL = Path("/run/pluto/pluto.ctl")


class Pluto:
    def __init__(self, ctlsocket: Path = DEFAULT_CTL, timeout: float = 30.0) -> None:
        self.ctl = ctlsocket
        self.timeout = timeout  # per call to whack or addconn

    def running(self) -> bool:
        return self.ctl.exists()

    def whack(self, *args: str, check: bool = True) -> str:
        if not self.running():
            raise NetError(f"pluto is not running (no control socket at {self.ctl})")
        proc = run(["ipsec", "whack", "--ctlsocket", str(self.ctl), *args], check=check,
                   timeout=self.timeout)
        return proc.stdout + proc.stderr

    def status(self) -> str:
        """pluto's own view: connections, states, SA totals and traffic, as one text."""
        return "\n".join(
            self.whack(flag) for flag in ("--status", "--briefstatus", "--trafficstatus")
        )

    def reread_secrets(self) -> None:
        self.whack("--rereadsecrets")

    def delete(self, name: str) -> None:
        # Deleting a connection that is not loaded is not an error worth stopping for.
        self.whack("--delete", "--name", name, check=False)

    def add(self, config: Path, name: str) -> None:
        """Load (or reload) one conn from its file."""
        proc = run([libexec("addconn"), "--ctlsocket", str(self.ctl), "--config", str(config),
                    name], check=False, timeout=self.timeout)
        text = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0 or "failed" in text.lower():
            raise NetError(f"pluto refused conn {name}: {text.splitlines()[-1] if text else '?'}")

    def initiate(self, name: str) -> None:
        self.whack("--initiate", "--asynchronous", "--name", name, check=False)
