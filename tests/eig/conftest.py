"""The real hub behind the gateway: one `corridor serve txn` (durable SQLite store) and one
`corridor serve rpt` following its feed, shared by the whole EIG suite, and real
`corridor serve eig` processes in front of them, driven with curl.

Each gateway runs on its own copy of the stack's site (same CAs and keys, so TXN and RPT
accept it), so a test may revoke, disable, rotate or add partners in its copy without
touching the others. What reached TXN is read from TXN's own request counters.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from corridor.pki.bootstrap import demo_keys
from corridor.pki.layout import Layout
from corridor.site import load_site
from corridor.site.edit import relocate
from tests.rpt.server import running_rpt
from tests.support import REPO, copy_site, free_port, need_tool, wait_for
from tests.txn.serving import TxnProcess

CORRIDOR = str(REPO / ".venv" / "bin" / "corridor")
QUOTE = {"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",
         "payout_method": "wallet", "send_amount": "1000.00"}


def transfer_body(quote_id: str, reference: str) -> dict:
    return {"quote_id": quote_id, "reference": reference, "purpose": "family_support",
            "source_of_funds": "salary",
            "sender": {"name": "Asha Rao", "account": "AC1", "address": "Mumbai",
                       "id_type": "passport", "id_number": "P0000001"},
            "beneficiary": {"name": "John Kamau", "account": "254700000001",
                            "phone": "+254700000001"}}


@dataclass
class Stack:
    """TXN and RPT on a bootstrapped site; `rpt_url` is None until RPT runs."""

    site: Path
    data: Path
    txn: TxnProcess
    rpt_url: str | None = None

    @property
    def txn_url(self) -> str:
        return f"https://127.0.0.1:{self.txn.port}"


@dataclass
class Gateway:
    site: Path
    data: Path
    port: int
    internal_port: int
    keys: dict[str, str]
    stack: Stack
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def layout(self) -> Layout:
        return Layout(self.site)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def audit(self) -> Path:
        return self.data / "eig" / "security-audit.jsonl"

    def audit_lines(self) -> list[dict]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]

    def internal(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.internal_port}{path}") as r:
            return r.read().decode()

    def reached_txn(self, route: str) -> int:
        """How many requests TXN has answered on `route` (e.g. /internal/v1/quotes)."""
        status, text = self.stack.txn.client("eig").get("/metrics")
        assert status == 200
        pattern = re.compile(r'^corridor_txn_requests_total\{route="' + re.escape(route)
                             + r'",status="\d+"\} ([0-9.e+]+)$', re.M)
        return int(sum(float(v) for v in pattern.findall(text)))

    def quote(self, partner: str = "payfast", interface: str | None = None) -> str:
        status, body, _ = self.curl("POST", "/v1/quotes", body=QUOTE, partner=partner,
                                    interface=interface,
                                    headers={"Idempotency-Key": f"q-{os.urandom(6).hex()}"})
        assert status == 201, body
        return body["id"]

    def curl(
        self,
        method: str,
        path: str,
        *,
        partner: str | None = "payfast",
        key: str | None = None,
        body: object = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        interface: str | None = None,
        cert: tuple[Path, Path] | None = None,
        text: bool = False,
    ) -> tuple[int, dict | str, dict[str, str]]:
        """One request with curl: (status, JSON body or {} or the text, response headers)."""
        need_tool("curl")
        args = ["curl", "-sS", "-X", method, "--cacert", str(self.layout.hub_ca[0]),
                "-D", "-", "--max-time", "10"]
        if cert is None and partner is not None:
            cert = self.layout.partner(partner)
        if cert is not None:
            args += ["--cert", str(cert[0]), "--key", str(cert[1])]
        token = key if key is not None else self.keys.get(partner or "")
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        if interface:
            args += ["--interface", interface]
        for name, value in (headers or {}).items():
            args += ["-H", f"{name}: {value}"]
        if body is not None or raw is not None:
            data = raw if raw is not None else json.dumps(body).encode()
            if "Content-Type" not in (headers or {}):
                args += ["-H", "Content-Type: application/json"]
            args += ["--data-binary", "@-"]
        else:
            data = b""
        args.append(self.url + path)
        out = subprocess.run(args, input=data, capture_output=True, timeout=20)
        if out.returncode != 0:
            return -out.returncode, {"stderr": out.stderr.decode()}, {}
        head, _, payload = out.stdout.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        if text:
            return status, payload.decode(), hdrs
        return status, json.loads(payload) if payload.strip() else {}, hdrs


def boot_site(root: Path) -> Path:
    site = copy_site(root)
    subprocess.run([CORRIDOR, "pki", "bootstrap", "--site", str(site)], check=True,
                   capture_output=True)
    return site


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """TXN (funded PayFast float) and RPT following its feed, for every EIG test."""
    root = tmp_path_factory.mktemp("hub")
    site, data = boot_site(root), root / "var"
    data.mkdir()
    subprocess.run([CORRIDOR, "store", "init", "--site", str(site), "--data", str(data)],
                   check=True, capture_output=True)
    subprocess.run([CORRIDOR, "ledger", "fund", "payfast", "100000000.00", "--reference",
                    "eig-tests", "--site", str(site), "--data", str(data)], check=True,
                   capture_output=True)
    txn = TxnProcess(site, data, load_site(site).hub.store_txn)
    relocate(site, {"txn": txn.port})  # RPT follows the feed at the site's listen.txn
    txn.start()
    try:
        with running_rpt(site, data) as rpt_url:
            yield Stack(site, data, txn, rpt_url)
    finally:
        txn.kill(signal.SIGTERM)


def start_gateway(stack: Stack, root: Path, *extra: str, own_site: bool = True) -> Gateway:
    """EIG on a copy of the stack's site (or, not `own_site`, on the stack's site itself,
    as servers on one host share it), relaying to the stack's TXN and RPT."""
    root.mkdir(parents=True, exist_ok=True)
    site, data = root / "site", root / "var"
    if own_site:
        shutil.copytree(stack.site, site)
    else:
        site = stack.site
    port, internal = free_port(), free_port()
    log = root / "eig.log"
    proc = subprocess.Popen(
        [CORRIDOR, "serve", "eig", "--site", str(site), "--data", str(data), "--port",
         str(port), "--internal-port", str(internal), "--txn-url", stack.txn_url,
         *(["--rpt-url", stack.rpt_url] if stack.rpt_url else []), *extra],
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"),  # noqa: SIM115
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    gw = Gateway(site, data, port, internal, demo_keys(Layout(site)), stack, proc, log)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        try:
            return '"ok"' in gw.internal("/healthz")
        except OSError:
            return False

    wait_for(healthy, timeout=15, what="EIG /healthz")
    return gw


def stop_gateway(gw: Gateway) -> None:
    gw.proc.send_signal(signal.SIGTERM)
    try:
        gw.proc.wait(10)
    except subprocess.TimeoutExpired:
        gw.proc.kill()
        gw.proc.wait()


@pytest.fixture(scope="module")
def gw(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = start_gateway(stack, tmp_path_factory.mktemp("eig"))
    yield g
    stop_gateway(g)


@pytest.fixture
def fresh_gw(stack: Stack, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway with a site of its own, for tests that revoke, disable, rotate or add."""
    g = start_gateway(stack, tmp_path / "eig")
    yield g
    stop_gateway(g)


def site_partner(gw: Gateway, partner_id: str):  # type: ignore[no-untyped-def]
    return load_site(gw.site).partner(partner_id)
