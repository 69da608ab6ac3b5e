"""Runs tcpdump for one capture, into a pcap file only root can read.

Payloads are partner data, so the file is created 0600 here and tcpdump writes its pcap to
that open file (`-w -`): tcpdump drops root after opening the device and would otherwise
create the file as its own user. It runs in a session of its own, so a Ctrl-C (or a
SIGTERM) reaches this process only, which then stops tcpdump with SIGINT: tcpdump writes
out what it holds and reports its drop count, and the capture ends the same way whether
it was timed or interrupted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from corridor.net.errors import NetError
from corridor.net.runner import first_complaint, netns_prefix

# How tcpdump takes packets from the kernel. Without immediate mode libpcap hands them
# over in blocks up to a second late, and the last second before a Ctrl-C is lost. In
# immediate mode the kernel's ring has one slot per packet, each as large as the snapshot
# length (tcpdump's default of 256 KiB leaves 8 slots in its 2 MiB buffer: a burst of TLS
# records overflowed it). So: a snapshot of a whole IP packet (at most 65535 bytes, GRO
# aggregates included) plus its link header, and a 64 MiB buffer, about a thousand slots;
# on loopback that took a burst of 2000 packets without a drop. What the kernel still
# drops, tcpdump reports and the summary says.
_RING = ("--immediate-mode", "-s", "65600", "-B", "65536")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_DROPPED = re.compile(r"^(\d+) packets? dropped by kernel")


@dataclass(frozen=True, slots=True)
class Capture:
    file: Path
    seconds: float  # how long tcpdump listened
    dropped_by_kernel: int | None  # packets the filter matched that the kernel could not keep


def capture(
    expression: str,
    out: Path,
    *,
    interface: str = "any",
    netns: str | None = None,
    seconds: float | None = None,
    on_listening: Callable[[str], None] = lambda line: None,
) -> Capture:
    """Capture packets matching `expression` into `out` for `seconds`, or until this
    process is interrupted (Ctrl-C, SIGTERM). `on_listening` gets tcpdump's "listening
    on" line once it captures. NetError when tcpdump is missing, we are not root, or
    tcpdump refuses (no such interface or namespace, a bad filter); the file is then
    removed."""
    if shutil.which("tcpdump") is None:
        raise NetError("tcpdump is not installed (make system-deps installs it)")
    if os.geteuid() != 0:
        raise NetError("capturing packets needs root")
    argv = [*netns_prefix(netns), "tcpdump", "-i", interface, "-n", *_RING,
            "-U", "-w", "-", expression]
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when --write named a file that was there
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    finally:
        os.close(fd)
    assert proc.stderr is not None
    watch = _Stderr(proc.stderr, on_listening)
    started = ended = time.monotonic()
    with _sigterm_interrupts():
        try:
            _wait_until_listening(proc, watch)
            started = time.monotonic()
            with contextlib.suppress(subprocess.TimeoutExpired, KeyboardInterrupt):
                proc.wait(timeout=seconds)
            ended = time.monotonic()
        except (NetError, KeyboardInterrupt) as exc:
            _stop(proc)
            watch.join()
            out.unlink(missing_ok=True)
            if isinstance(exc, KeyboardInterrupt):
                raise NetError("interrupted before tcpdump started capturing") from None
            raise
        finally:
            if proc.poll() is None:
                _stop(proc)
    watch.join()
    if proc.returncode not in (0, -signal.SIGINT):
        raise NetError(f"tcpdump stopped: {first_complaint(watch.text())} (kept {out})")
    return Capture(out, ended - started, watch.dropped())


def _wait_until_listening(proc: subprocess.Popen[str], watch: _Stderr) -> None:
    if not watch.listening.wait(START_TIMEOUT_S):
        raise NetError(f"tcpdump did not start capturing within {START_TIMEOUT_S:.0f}s")
    if not watch.started:  # its stderr ended first: it refused
        proc.wait()
        watch.join()
        complaint = first_complaint(watch.text()).removeprefix("tcpdump: ")
        raise NetError(f"tcpdump failed: {complaint}")


class _Stderr:
    """Reads tcpdump's stderr in a thread: tells when it listens, keeps the rest."""

    def __init__(self, stream: IO[str], on_listening: Callable[[str], None]) -> None:
        self.lines: list[str] = []
        self.listening = threading.Event()  # set when it listens, or its stderr ends
        self.started = False
        self._thread = threading.Thread(target=self._read, args=(stream, on_listening),
                                        daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str], on_listening: Callable[[str], None]) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            self.lines.append(line)
            if not self.started and line.startswith("tcpdump: listening on"):
                self.started = True
                on_listening(line)
                self.listening.set()
        self.listening.set()

    def join(self) -> None:
        self._thread.join(STOP_TIMEOUT_S)

    def text(self) -> str:
        return "\n".join(self.lines)

    def dropped(self) -> int | None:
        for line in self.lines:
            m = _DROPPED.match(line)
            if m:
                return int(m.group(1))
        return None


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGINT, as a terminal's Ctrl-C would: tcpdump flushes and reports; then wait, with
    a second Ctrl-C (or SIGTERM) ignored meanwhile so the file is never left half written."""
    previous = {n: _set_handler(n, signal.SIG_IGN) for n in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While capturing, SIGTERM ends the capture the way Ctrl-C does."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = _set_handler(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# What `signal.signal` takes and gives back (typeshed's own alias is private).
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _set_handler(signum: int, handler: _Handler) -> _Handler:
    """Install a signal handler where Python allows it (the main thread); return the one
    it replaced, or None when it could not."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signum, handler)
