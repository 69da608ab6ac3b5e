"""The embedded default: every server of the hub on this host, as child processes.

`Stack` starts `corridor serve txn`, `corridor serve eig` and (when its package is there)
`corridor serve rpt` from one site directory, waits until each answers its health check,
and stops them all, last started first. The demo, the end-to-end tests and `corridor bench
e2e` use it too, with the partner simulators beside it. `run_all()` is `corridor up`: it
keeps the servers up until Ctrl-C or SIGTERM, restarting one that crashes
(`corridor.supervise`). Several stacks run side by side on copies of a site moved onto
other ports (`corridor.site.edit.relocate`).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from corridor import processes
from corridor.pki.layout import Layout
from corridor.pki.tls import MissingCredentials, hub_client, hub_server, partner_listener
from corridor.probe import http_ok, tcp_open
from corridor.site import load_site
from corridor.site.model import Site


class StackError(Exception):
    """A server of the stack did not start, or exited early (its log says why)."""


@dataclass
class Service:
    """One server as a child process, with its log and its readiness probe."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    probe: Callable[[], bool]

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.probe():
            if self.process.poll() is not None:
                raise StackError(f"{self.name} exited with {self.process.returncode}; "
                                 f"see {self.log}:\n{_tail(self.log)}")
            if time.monotonic() > deadline:
                raise StackError(f"{self.name} not ready after {timeout}s; see {self.log}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit code."""
        return processes.stop(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, for the tests that prove nothing is lost."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


@dataclass
class Stack:
    """The hub's servers for one site and data directory."""

    site_dir: Path
    data_dir: Path
    store: str | None = None  # TXN store DSN (default: hub.yaml)
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every server
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def site(self) -> Site:
        return load_site(self.site_dir)

    def _spawn(self, name: str, args: list[str], probe: Callable[[], bool]) -> Service:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / f"{name}.log"
        cmd = [sys.executable, "-m", "corridor", *args, "--site", str(self.site_dir),
               "--data", str(self.data_dir)]
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        service = Service(name, proc, log, probe)
        self.services[name] = service
        return service

    def start_txn(self) -> Service:
        args = ["serve", "txn"] + (["--store", self.store] if self.store else [])
        return self._spawn("txn", args, self._txn_healthy)

    def start_eig(self) -> Service:
        return self._spawn("eig", ["serve", "eig"], self._eig_healthy)

    def start_rpt(self) -> Service | None:
        """RPT, when this build has it; it follows TXN's event feed."""
        if importlib.util.find_spec("corridor.rpt.cli") is None:
            return None
        return self._spawn("rpt", ["serve", "rpt"], self._rpt_open)

    def restart(self, name: str) -> Service:
        """Start a server of the stack again (after it exited), in its place."""
        start = {"txn": self.start_txn, "eig": self.start_eig, "rpt": self.start_rpt}[name]
        service = start()
        assert service is not None, name
        return service

    def up(self, *, rpt: bool = False, timeout: float = 30.0) -> Stack:
        """TXN, then EIG (and RPT): each waited for before the next starts."""
        try:
            self.start_txn().wait_ready(timeout)
            self.start_eig().wait_ready(timeout)
            if rpt:
                service = self.start_rpt()
                if service is not None:
                    service.wait_ready(timeout)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        self.services.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- health probes ---------------------------------------------------------------------

    def _txn_healthy(self) -> bool:
        site = self.site
        listen = site.hub.listen["txn"]
        return http_ok(listen.host, listen.port, "/healthz", hub_client(Layout(site.root), "eig"))

    def _eig_healthy(self) -> bool:
        listen = self.site.hub.listen.get("eig_internal")
        host, port = (listen.host, listen.port) if listen else ("127.0.0.1", 9443)
        return http_ok(host, port, "/healthz")

    def _rpt_open(self) -> bool:
        listen = self.site.hub.listen["rpt"]
        return tcp_open(listen.host, listen.port)


def run_all(site_dir: Path, data_dir: Path, store: str | None = None) -> int:
    """`corridor up`: TXN, EIG and RPT until Ctrl-C or SIGTERM; then stop them all. A server
    that crashes is restarted with backoff; one that keeps crashing stops them all, exit 1."""
    from corridor.clikit import fail, open_site
    from corridor.supervise import GaveUp, Supervisor

    site = open_site(site_dir)  # faults as file:line, exit 2
    layout = Layout(site.root)
    try:  # the servers build the same contexts
        hub_server(layout, "txn")
        partner_listener(layout)
        hub_client(layout, "eig")
    except MissingCredentials as exc:
        fail(str(exc))
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(site_dir, data_dir, store)
    try:
        try:
            stack.up(rpt=True)
        except StackError as exc:
            fail(str(exc).splitlines()[0])
        for name, service in stack.services.items():
            print(f"{name}: up (pid {service.process.pid}, log {service.log})", flush=True)
        print("corridor: all servers up; Ctrl-C stops them", flush=True)
        supervisor = Supervisor(stack, lambda line: print(line, flush=True))
        while not stopping:
            try:
                supervisor.check(time.monotonic())
            except GaveUp as exc:
                fail(str(exc))
            time.sleep(0.2)
        return 0
    finally:
        stack.down()
        for sig, handler in old.items():
            signal.signal(sig, handler)
