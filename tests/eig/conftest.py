"""A running EIG (the real `corridor serve eig` process) in front of a TXN stand-in, and a
curl helper: the gateway is driven by clients nobody here wrote."""

from __future__ import annotations

import json
import os
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
from tests.eig.standin import StandIn
from tests.support import REPO, copy_site, free_port, need_tool, wait_for

CORRIDOR = str(REPO / ".venv" / "bin" / "corridor")


@dataclass
class Gateway:
    site: Path
    data: Path
    port: int
    internal_port: int
    keys: dict[str, str]
    txn: StandIn
    proc: subprocess.Popen[bytes]

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
    ) -> tuple[int, dict, dict[str, str]]:
        """One request with curl: (status, JSON body or {}, response headers)."""
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
        return status, json.loads(payload) if payload.strip() else {}, hdrs


def boot_site(root: Path) -> Path:
    site = copy_site(root)
    subprocess.run([CORRIDOR, "pki", "bootstrap", "--site", str(site)], check=True,
                   capture_output=True)
    return site


def start_gateway(root: Path, *extra: str, txn_url: str | None = None) -> Gateway:
    """EIG in front of the TXN at `txn_url`, or of a fresh stand-in."""
    site = root / "site" if (root / "site").exists() else boot_site(root)
    data = root / "var"
    txn = StandIn(site, free_port())
    if txn_url is None:
        txn.start()
        txn_url = f"https://127.0.0.1:{txn.port}"
    port, internal = free_port(), free_port()
    proc = subprocess.Popen(
        [CORRIDOR, "serve", "eig", "--site", str(site), "--data", str(data), "--port",
         str(port), "--internal-port", str(internal), "--txn-url", txn_url, *extra],
        stdout=subprocess.DEVNULL, stderr=open(root / "eig.log", "wb"),  # noqa: SIM115
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    gw = Gateway(site, data, port, internal, demo_keys(Layout(site)), txn, proc)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError((root / "eig.log").read_text())
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
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = start_gateway(tmp_path_factory.mktemp("eig"))
    yield g
    stop_gateway(g)


@pytest.fixture
def fresh_gw(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway of its own, for tests that revoke, disable or rotate."""
    g = start_gateway(tmp_path)
    yield g
    stop_gateway(g)


def site_partner(gw: Gateway, partner_id: str):  # type: ignore[no-untyped-def]
    return load_site(gw.site).partner(partner_id)
