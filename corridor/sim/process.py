"""Starting the simulators as child processes (the demo, end-to-end tests) and waiting
until they answer `GET /sim/health`, with a deadline."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corridor import processes
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client_to_partner
from corridor.probe import http_ok
from corridor.sim.identity import SimError
from corridor.site.model import Site


@dataclass
class SimProcess:
    """A simulator running as `corridor sim ...` in a child process."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    site: Site
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def healthy(self) -> bool:
        """One health probe with the hub's client certificate."""
        return http_ok(self.host, self.port, "/sim/health",
                       hub_client_to_partner(Layout(self.site.root)))

    def wait_ready(self, timeout: float = 15.0) -> SimProcess:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process.poll() is not None:
                raise SimError(f"simulator exited with {self.process.returncode}"
                               + (f"; see {self.log}" if self.log else ""))
            if time.monotonic() > deadline:
                self.stop()
                raise SimError(f"simulator not ready on {self.url} after {timeout}s")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; the exit code."""
        return processes.stop(self.process, timeout)

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn(site: Site, args: list[str], host: str, port: int, log: Path | None = None
          ) -> SimProcess:
    """Run `corridor sim ARGS...` (with --site) and return it, not yet waited for."""
    cmd = [sys.executable, "-m", "corridor", "sim", *args[:1], "--site", str(site.root),
           *args[1:]]
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]  # out is open exactly when log is set
    return SimProcess(proc, host, port, site, log)


def spawn_receive_partner(site: Site, partner_id: str = "mobicash", *, port: int,
                          host: str = "127.0.0.1", extra: list[str] | None = None,
                          log: Path | None = None) -> SimProcess:
    """`corridor sim receive-partner` on host:port; `.wait_ready()` before use."""
    args = ["receive-partner", "--partner", partner_id, "--listen", f"{host}:{port}",
            *(extra or [])]
    return spawn(site, args, host, port, log)


def spawn_send_callbacks(site: Site, partner_id: str = "payfast", *, port: int,
                         host: str = "127.0.0.1", extra: list[str] | None = None,
                         log: Path | None = None) -> SimProcess:
    """`corridor sim send-partner serve-callbacks` on host:port; `.wait_ready()` first."""
    args = ["send-partner", "--partner", partner_id, "serve-callbacks", "--listen",
            f"{host}:{port}", *(extra or [])]
    return spawn(site, args, host, port, log)


def control_call(host: str, port: int, site: Site, method: str, path: str,
                 body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    """One call to a simulator's control API (`/sim/...`) with the hub's client
    certificate: (status, the JSON answer or None)."""
    conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                       context=hub_client_to_partner(Layout(site.root)))
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()
