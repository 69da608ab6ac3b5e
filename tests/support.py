"""Helpers the tests share: real capabilities, waiting on conditions, the demo site.

A test that needs root, a Debian tool or PostgreSQL calls `need(...)`: on a laptop that
lacks it the test skips and says why; under CI=true a missing capability fails the run.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

import corridor.site
from corridor.ports import free_port  # noqa: F401  (the tests take it from here)
from corridor.site import demo_site

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SITE = demo_site()  # the demo site shipped with the package; read it, never write
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_DSN = os.environ.get("CORRIDOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

T = TypeVar("T")


def need(ok: bool, why: str) -> None:
    """Skip (or, under CI=true, fail) when a real part the test drives is missing."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"missing capability under CI: {why}")
    pytest.skip(why)


def need_root() -> None:
    need(os.geteuid() == 0, "needs root (network namespaces, nftables, pluto)")


def need_tool(*names: str) -> None:
    for name in names:
        need(shutil.which(name) is not None, f"needs {name} (make system-deps installs it)")


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL schema named `prefix`_<random>, as a DSN whose search_path is that
    schema; dropped with everything in it on the way out."""
    need(postgres_available(), "needs PostgreSQL on 127.0.0.1:5432")
    import psycopg  # only the tests that run on PostgreSQL need the driver

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in POSTGRES_DSN else "?"
    try:
        yield f"{POSTGRES_DSN}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def wait_for(
    condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll `condition` until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def site_snapshot(site: Path) -> dict[str, str]:
    """Every file of a site with its mode and a hash of its content: equal snapshots mean
    a byte-identical tree."""
    return {str(p.relative_to(site)): f"{p.stat().st_mode & 0o777:o} "
                                      f"{hashlib.sha256(p.read_bytes()).hexdigest()}"
            for p in sorted(site.rglob("*")) if p.is_file()}


def copy_site(dest: Path) -> Path:
    """A writable copy of the demo site at dest/site (tests never touch the shipped one)."""
    return corridor.site.copy_site(dest / "site")


class KeptAlive:
    """One HTTPS connection reused for every request, as a busy client holds it: a request
    after the server closed it fails the test instead of quietly opening another."""

    def __init__(self, port: int, context: ssl.SSLContext, host: str = "127.0.0.1") -> None:
        self.conn = http.client.HTTPSConnection(host, port, context=context, timeout=10)
        self.sock: object = None

    def get(self, path: str, headers: dict[str, str] | None = None
            ) -> tuple[int, bytes, http.client.HTTPResponse]:
        if self.sock is not None:
            assert self.conn.sock is self.sock, "the connection was closed and reopened"
        self.conn.request("GET", path, headers=headers or {})
        self.sock = self.sock or self.conn.sock
        resp = self.conn.getresponse()
        return resp.status, resp.read(), resp

    @property
    def closed(self) -> bool:
        return self.conn.sock is None
