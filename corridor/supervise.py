"""`corridor up` keeps the hub's servers running: a server that crashes is started again
after a backoff, and `up` gives up only when one keeps crashing.

The policy, fixed here: wait 0.5 s after a crash, doubling with each further crash within
the last 60 s (0.5, 1, 2, 4, 8 s); the sixth crash within 60 s gives up, so no wait is
longer than 8 s. A server that exits before it answers its health check again, or is not
healthy within `READY_TIMEOUT_S` of a restart, has crashed once more. When `up` gives up,
it stops every server and exits 1 with one line naming the server and its log. A crash
while `up` starts the servers is not retried: that is a fault to fix (site, store, ports).

This is the embedded default's supervision. In production each server is a systemd unit
and systemd restarts it (`Restart=on-failure`, `RestartSec=`, with `StartLimitBurst=` and
`StartLimitIntervalSec=` playing the part of the crash limit here).

Each restart and its outcome is told on the terminal and appended to the server's own log
(`<data>/<server>.log`), beside what the server wrote before it died:
`txn: exited with -9 (SIGKILL); restarting in 0.5s (crash 1 of 5 within 60s)`, then
`txn: up again (pid N)`.

Nothing acknowledged is lost across a restart: TXN answers a partner only after the commit
(the store's guarantee), EIG's connection pool to TXN reconnects by itself, RPT's feed
follower resumes from its cursor.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from subprocess import Popen
from typing import Protocol

READY_TIMEOUT_S = 30.0


class Server(Protocol):
    """One supervised server: its process, its log and its health check."""

    process: Popen[bytes]
    log: Path

    def probe(self) -> bool: ...

    def kill(self) -> None: ...


class Servers(Protocol):
    """What the supervisor watches (`corridor.stack.Stack`): the servers by name, and
    a way to start one again in its place."""

    @property
    def services(self) -> Mapping[str, Server]: ...

    def restart(self, name: str) -> object: ...


@dataclass(frozen=True)
class RestartPolicy:
    """How long to wait before restarting a crashed server, or to give up."""

    first_s: float = 0.5  # the wait after a first crash; it doubles with each further one
    burst: int = 5  # crashes within `window_s` that are restarted; one more gives up
    window_s: float = 60.0

    def recent(self, crashes: Sequence[float]) -> int:
        """How many of the crash times (seconds, oldest first) lie within the window that
        ends at the last one."""
        last = crashes[-1]
        return sum(1 for at in crashes if last - at < self.window_s)

    def delay(self, crashes: Sequence[float]) -> float | None:
        """The wait before restarting after the last of `crashes`; None: give up."""
        count = self.recent(crashes)
        if count > self.burst:
            return None
        return self.first_s * 2.0 ** (count - 1)

    def crash_count(self, crashes: Sequence[float]) -> str:
        return f"crash {self.recent(crashes)} of {self.burst} within {self.window_s:g}s"


def exit_text(returncode: int) -> str:
    """`exited with 1`, or `exited with -9 (SIGKILL)` for a process a signal ended."""
    if returncode < 0:
        try:
            return f"exited with {returncode} ({signal.Signals(-returncode).name})"
        except ValueError:
            pass
    return f"exited with {returncode}"


@dataclass
class _Watch:
    crashes: list[float] = field(default_factory=list)  # monotonic times
    restart_at: float | None = None  # waiting out the backoff until then
    restarted_at: float | None = None  # restarted, not healthy yet


class GaveUp(Exception):
    """A server kept crashing; the message is the one line to tell the operator."""


@dataclass
class Supervisor:
    """Watches a running `Stack` (as `Servers`); `check(now)` is called every fraction of a
    second and never blocks for long, so that Ctrl-C stops `up` promptly even during a
    backoff."""

    stack: Servers
    say: Callable[[str], None]  # one line for the terminal
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    _watches: dict[str, _Watch] = field(default_factory=dict, init=False, repr=False)

    def check(self, now: float) -> None:
        """Restart what crashed and is due; raises GaveUp for a server that keeps crashing."""
        for name, service in list(self.stack.services.items()):
            watch = self._watches.setdefault(name, _Watch())
            if watch.restart_at is not None:
                if now >= watch.restart_at:
                    self.stack.restart(name)
                    watch.restart_at, watch.restarted_at = None, now
                continue
            returncode = service.process.poll()
            if returncode is None and watch.restarted_at is not None:
                if service.probe():
                    watch.restarted_at = None
                    self._tell(name, f"up again (pid {service.process.pid})")
                elif now - watch.restarted_at > READY_TIMEOUT_S:
                    service.kill()
                    self._crashed(name, watch, now,
                                  f"not healthy {READY_TIMEOUT_S:g}s after a restart")
            elif returncode is not None:
                self._crashed(name, watch, now, exit_text(returncode))

    def _crashed(self, name: str, watch: _Watch, now: float, what: str) -> None:
        watch.crashes.append(now)
        delay = self.policy.delay(watch.crashes)
        if delay is None:
            line = (f"{name}: {what} (crash {self.policy.recent(watch.crashes)} within "
                    f"{self.policy.window_s:g}s); giving up; see {self.stack.services[name].log}")
            _append(self.stack.services[name].log, line)
            raise GaveUp(line)
        watch.restart_at, watch.restarted_at = now + delay, None
        self._tell(name, f"{what}; restarting in {delay:g}s "
                         f"({self.policy.crash_count(watch.crashes)})")

    def _tell(self, name: str, what: str) -> None:
        line = f"{name}: {what}"
        self.say(line)
        _append(self.stack.services[name].log, line)


def _append(log: Path, line: str) -> None:
    """One line in a server's log, stamped as the servers stamp theirs."""
    stamp = datetime.now().isoformat(sep=" ", timespec="milliseconds").replace(".", ",")
    with log.open("a") as out:
        out.write(f"{stamp} corridor.up {line}\n")
