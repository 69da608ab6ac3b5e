"""Network namespaces for the perimeter tests: unique names, veth links, always removed."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

_seq = itertools.count()


def sh(*argv: str, check: bool = True, ns: str | None = None,
       timeout: float = 20) -> subprocess.CompletedProcess[str]:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout)


def unique(tag: str) -> str:
    # Short: interface names are limited to 15 characters.
    return f"c{tag}{os.getpid() % 100000}{next(_seq)}"


class Lab:
    """A set of namespaces joined by veth pairs; `close` removes every one of them."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def ns(self, tag: str) -> str:
        name = unique(tag)
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "link", "set", "lo", "up", ns=name)
        return name

    def link(self, a: str, addr_a: str, b: str, addr_b: str) -> tuple[str, str]:
        """A veth between namespaces a and b with the given CIDR addresses; returns the
        interface names (a's end, b's end)."""
        ea, eb = unique("a"), unique("b")
        sh("ip", "link", "add", ea, "type", "veth", "peer", "name", eb)
        sh("ip", "link", "set", ea, "netns", a)
        sh("ip", "link", "set", eb, "netns", b)
        for ns, dev, addr in ((a, ea, addr_a), (b, eb, addr_b)):
            sh("ip", "addr", "add", addr, "dev", dev, ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)
        return ea, eb

    def route(self, ns: str, dest: str, dev: str) -> None:
        sh("ip", "route", "add", dest, "dev", dev, ns=ns)

    def close(self) -> None:
        for name in reversed(self.names):
            # Processes still inside would keep it alive; tests stop theirs first.
            sh("ip", "netns", "del", name, check=False)
        self.names.clear()


@contextmanager
def lab() -> Iterator[Lab]:
    world = Lab()
    try:
        yield world
    finally:
        world.close()


def can_connect(ns: str, host: str, port: int, timeout: float = 1.0) -> bool:
    """A real TCP handshake from inside `ns`."""
    code = (f"import socket; socket.create_connection(({host!r}, {port}), timeout={timeout})")
    proc = sh("python3", "-c", code, ns=ns, check=False, timeout=timeout + 10)
    return proc.returncode == 0
