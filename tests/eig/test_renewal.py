"""Renewal on a running gateway: a renewed server certificate reaches new connections
without a restart and without a failed request, and a partner's renewed certificate is
admitted beside its old one until the overlap closes."""

from __future__ import annotations

import datetime as dt
import http.client
import shutil
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from corridor.pki.cli import pki as pki_cli
from corridor.pki.issue import fingerprint, load_issued
from corridor.pki.layout import Layout
from tests.eig.conftest import Gateway
from tests.eig.test_open_connections import Held
from tests.eig.test_refusals import PAYFAST, audited
from tests.pki.test_renew import new_csr, short_lived_hub
from tests.support import wait_for
from tests.tlskit import presenting


def pki(gw: Gateway, *args: str) -> str:
    result = CliRunner().invoke(pki_cli, [*args, "--site", str(gw.site)])
    assert result.exit_code == 0, result.output
    return result.output


def served_serial(gw: Gateway, port: int | None = None, client: str = "payfast") -> int:
    """The serial number of the certificate a new connection to the gateway (or to the
    hub server on `port`) is shown."""
    cert = gw.layout.partner(client) if client == "payfast" else gw.layout.hub(client)
    ctx = presenting(gw.layout.hub_ca[0], *cert)
    with socket.create_connection(("127.0.0.1", port or gw.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


class Traffic(threading.Thread):
    """A partner calling without pause, on one kept-alive connection and on a new
    connection each time; every answer but 200 (or an error) is kept."""

    def __init__(self, gw: Gateway) -> None:
        super().__init__(daemon=True)
        self.gw, self.done, self.stop = gw, 0, threading.Event()
        self.failures: list[str] = []
        self.held = Held(gw)

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {self.gw.keys['payfast']}"}
        ctx = presenting(self.gw.layout.hub_ca[0], *self.gw.layout.partner("payfast"))
        while not self.stop.is_set():
            try:
                status, body, _ = self.held.get("/v1/transfers", auth)
                if status != 200:
                    self.failures.append(f"kept-alive: {status} {body[:200]!r}")
                fresh = http.client.HTTPSConnection("127.0.0.1", self.gw.port, context=ctx,
                                                    timeout=10)
                fresh.request("GET", "/v1/transfers", headers=auth)
                resp = fresh.getresponse()
                if resp.status != 200:
                    self.failures.append(f"new connection: {resp.status} {resp.read()[:200]!r}")
                fresh.close()
            except Exception as exc:  # every failure is the finding
                self.failures.append(repr(exc))
            self.done += 1


def test_a_renewed_server_certificate_reaches_new_connections_without_a_failed_request(
        fresh_gw: Gateway) -> None:
    gw = fresh_gw
    short = short_lived_hub(gw.site, "eig", dt.timedelta(hours=2))
    wait_for(lambda: served_serial(gw) == short, timeout=30,
             what="the short-lived certificate in force")
    traffic = Traffic(gw)
    traffic.start()
    try:
        wait_for(lambda: traffic.done >= 3, timeout=20, what="traffic flowing")
        out = pki(gw, "renew", "--within", "30d")
        assert "renewed pki/hub/eig.crt" in out
        renewed = load_issued(gw.layout.hub("eig")[0]).cert.serial_number
        assert renewed != short
        wait_for(lambda: served_serial(gw) == renewed, timeout=30,
                 what="new connections shown the renewed certificate")
        after = traffic.done
        wait_for(lambda: traffic.done >= after + 3, timeout=20, what="traffic after renewal")
    finally:
        traffic.stop.set()
        traffic.join(timeout=20)
    assert traffic.failures == []
    assert gw.proc.poll() is None  # the same gateway process throughout


def test_a_renewed_txn_certificate_reaches_new_connections_without_a_failed_request(
        fresh_gw: Gateway) -> None:
    gw, stack = fresh_gw, fresh_gw.stack
    txn_port = stack.txn.port
    short = short_lived_hub(stack.site, "txn", dt.timedelta(hours=2))
    wait_for(lambda: served_serial(gw, txn_port, "eig") == short, timeout=30,
             what="TXN's short-lived certificate in force")
    traffic = Traffic(gw)  # partner -> EIG -> TXN
    traffic.start()
    try:
        wait_for(lambda: traffic.done >= 3, timeout=20, what="traffic flowing")
        out = CliRunner().invoke(pki_cli, ["renew", "--within", "30d", "--site",
                                           str(stack.site)]).output
        assert "renewed pki/hub/txn.crt" in out
        renewed = load_issued(Layout(stack.site).hub("txn")[0]).cert.serial_number
        wait_for(lambda: served_serial(gw, txn_port, "eig") == renewed, timeout=30,
                 what="new connections to TXN shown its renewed certificate")
        after = traffic.done
        wait_for(lambda: traffic.done >= after + 3, timeout=20, what="traffic after renewal")
    finally:
        traffic.stop.set()
        traffic.join(timeout=20)
    assert traffic.failures == []
    assert stack.txn.proc is not None and stack.txn.proc.poll() is None  # never restarted


def test_a_partner_renewal_admits_both_certificates_until_the_overlap_closes(
        fresh_gw: Gateway, tmp_path: Path) -> None:
    gw = fresh_gw
    old = (tmp_path / "old.crt", tmp_path / "old.key")
    for src, dst in zip(gw.layout.partner("payfast"), old, strict=True):
        shutil.copyfile(src, dst)
    held_old = Held(gw, old)
    assert held_old.code() is None
    csr, key = new_csr(tmp_path, PAYFAST)
    pki(gw, "renew-partner", "payfast", "--csr", str(csr), "--overlap", "2s")
    new = (gw.layout.partner_next("payfast")[0], key)
    # During the overlap the new certificate is admitted, and the old one still is:
    # on the connection it holds and on a new one.
    wait_for(lambda: Held(gw, new).code() is None, timeout=30, what="the new certificate admitted")
    assert held_old.code() is None
    assert Held(gw, old).code() is None
    # The overlap closes at the first `pki renew` after its end.
    wait_for(lambda: "overlap closed for payfast" in pki(gw, "renew", "--within", "1d"),
             timeout=20, what="the overlap closed")
    wait_for(lambda: held_old.code() in ("certificate_not_pinned", "certificate_revoked"),
             timeout=30, what="the old certificate refused on its open connection")
    line = audited(gw, "certificate_revoked", fingerprint=fingerprint(load_issued(old[0]).cert))
    assert line["partner_claimed"] is None or line["partner_claimed"] == "payfast"
    with pytest.raises((OSError, ConnectionError)):
        Held(gw, old).code()  # a new connection with it fails the handshake
    new = (gw.layout.partner("payfast")[0], key)  # the renewed certificate, moved in place
    assert Held(gw, new).code() is None
