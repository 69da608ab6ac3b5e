"""Running `corridor serve txn` as a real process with real certificates, and an mTLS
client for it."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corridor.core.money import Money
from corridor.pki.bootstrap import bootstrap
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client, partner_client
from corridor.site import load_site
from corridor.store import commit_group, open_store
from corridor.txn.commands.floats import Fund
from tests.support import REPO, free_port, wait_for


def bootstrapped_site(site_dir: Path) -> Path:
    """The demo site with its PKI and secrets, as `corridor pki bootstrap` makes them."""
    bootstrap(load_site(site_dir))
    return site_dir


class TxnProcess:
    def __init__(self, site_dir: Path, data_dir: Path, dsn: str) -> None:
        self.site_dir, self.data_dir, self.dsn = site_dir, data_dir, dsn
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "txn.log"

    def start(self) -> None:
        env = {**os.environ, "CORRIDOR_CONNECTOR": "in-process", "CORRIDOR_TXN_LEASE_S": "2"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "corridor", "serve", "txn", "--site", str(self.site_dir),
                 "--data", str(self.data_dir), "--store", self.dsn,
                 "--listen", f"127.0.0.1:{self.port}"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_for(self.healthy, timeout=20, what="TXN /healthz")

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"TXN exited: {self.log.read_text()[-2000:]}")
        try:
            return self.client("eig").get("/healthz")[0] == 200
        except OSError:
            return False

    def kill(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        self.proc = None

    def client(self, name: str = "eig") -> Client:
        layout = Layout(self.site_dir)
        if name in ("eig", "rpt", "txn"):
            ctx = hub_client(layout, name)
        elif name == "none":  # no client certificate at all
            ctx = ssl.create_default_context(cafile=layout.hub_ca[0])
        else:
            ctx = partner_client(layout, name)
        return Client(self.port, ctx)


def fund(txn: TxnProcess) -> None:
    """Prefund PayFast's float in the process's store, as `corridor ledger fund` does."""
    site = load_site(txn.site_dir)
    conn = open_store(txn.dsn, txn.data_dir)
    try:
        out = commit_group(conn, [Fund(site.partners["payfast"], Money(10**9, "INR"), "dep",
                                    datetime.now(UTC))])
        assert out[0].error is None
    finally:
        conn.close()


class Client:
    """A keep-alive HTTPS client (one connection, reconnecting after a failure)."""

    def __init__(self, port: int, ctx: ssl.SSLContext) -> None:
        self.port, self.ctx = port, ctx
        self.conn: http.client.HTTPSConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                    timeout=10)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        ctype = resp.getheader("Content-Type", "")
        return resp.status, (json.loads(data) if "json" in ctype else data.decode())

    def get(self, path: str, partner: str | None = None) -> tuple[int, Any]:
        return self.request("GET", path, headers={"Corridor-Partner": partner} if partner else {})

    def post(self, path: str, body: bytes, partner: str = "payfast",
             key: str | None = "k") -> tuple[int, Any]:
        headers = {"Corridor-Partner": partner, "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.request("POST", path, body, headers)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
