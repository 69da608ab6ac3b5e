"""Real `corridor serve rpt` and `serve txn` processes on free ports, and an mTLS client
for them."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from corridor import processes
from corridor.pki.tls import client_context
from corridor.site.edit import relocate
from tests.support import REPO, free_port, wait_for


@contextmanager
def running_rpt(site: Path, data: Path, *extra: str) -> Iterator[str]:
    port = free_port()
    relocate(site, {"rpt": port})
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corridor", "serve", "rpt", "--site", str(site),
         "--data", str(data), *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or _up(site, url), timeout=20,
                 what="rpt listening")
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        yield url
    finally:
        processes.stop(proc, timeout=10)


@contextmanager
def running_txn(site: Path, data: Path, *extra: str) -> Iterator[str]:
    """`corridor serve txn` on a free port written into the site's listen.txn (where RPT
    looks for the feed), paying out through the in-process connector; its log goes to a
    file beside `data`, shown if it does not start."""
    port = free_port()
    relocate(site, {"txn": port})
    env = {**os.environ, "CORRIDOR_CONNECTOR": "in-process", "PYTHONUNBUFFERED": "1"}
    log = data.parent / f"txn-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "corridor", "serve", "txn", "--site", str(site),
             "--data", str(data), *extra],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"https://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return get(site, "eig", url + "/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(lambda: proc.poll() is not None or up(), timeout=30, what="txn listening")
        assert proc.poll() is None, log.read_text()[-2000:]
        yield url
    finally:
        processes.stop(proc, timeout=10)


def _up(site: Path, url: str) -> bool:
    try:
        get(site, "rpt", url + "/healthz")
        return True
    except (OSError, urllib.error.URLError):
        return False


def context(site: Path, cn: str) -> ssl.SSLContext:
    pki = site / "pki"
    if cn == "stranger":
        return client_context(pki / "hub-ca.crt", pki / "stranger.pem", pki / "stranger.key")
    return client_context(pki / "hub-ca.crt", pki / "hub" / f"{cn}.crt", pki / "hub" / f"{cn}.key")


def get(site: Path, cn: str, url: str, headers: dict[str, str] | None = None
        ) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET made with `cn`'s client certificate."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=context(site, cn), timeout=30) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def problem(body: bytes) -> str:
    return json.loads(body)["code"]


def scrape(site: Path, url: str) -> dict[str, float]:
    """Sample name (with its labels, if any) -> value, read with RPT's client certificate."""
    status, _, body = get(site, "rpt", f"{url}/metrics")
    assert status == 200
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            found[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return found
