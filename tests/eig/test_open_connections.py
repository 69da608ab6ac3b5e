"""A partner that keeps its connection busy keeps no access it has lost: a revocation, an
expiry, a pin move, a disable or a key rotation refuses the next request on a connection
opened before it, as it refuses a new connection."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner

from corridor.eig.cli import partner as partner_cli
from corridor.pki.cli import pki as pki_cli
from corridor.pki.issue import fingerprint, issue, load_issued, subject_name, write_issued
from corridor.pki.tls import client_context
from tests.eig.conftest import Gateway
from tests.eig.test_refusals import PAYFAST, audited
from tests.support import KeptAlive, wait_for


class Held(KeptAlive):
    """One kept-alive partner connection, reused for every request as a busy partner does."""

    def __init__(self, gw: Gateway, cert: tuple[Path, Path] | None = None) -> None:
        super().__init__(gw.port, client_context(gw.layout.hub_ca[0],
                                                 *(cert or gw.layout.partner("payfast"))))
        self.key = gw.keys["payfast"]

    def code(self) -> str | None:
        """The problem code of the next request on this connection (None when served)."""
        status, body, _ = self.get("/v1/transfers", {"Authorization": f"Bearer {self.key}"})
        return None if status == 200 else json.loads(body).get("code")


def revoke(gw: Gateway, partner_id: str) -> None:
    result = CliRunner().invoke(pki_cli, ["revoke", partner_id, "--site", str(gw.site)])
    assert result.exit_code == 0, result.output


def test_a_revoked_certificate_is_refused_on_the_connection_it_already_holds(
        fresh_gw: Gateway) -> None:
    gw = fresh_gw
    held = Held(gw)
    for _ in range(3):
        assert held.code() is None
    revoke(gw, "payfast")
    # The connection keeps asking; within a second its next request is refused.
    wait_for(lambda: held.code() == "certificate_revoked", timeout=1.0,
             what="certificate_revoked on the open connection")
    assert held.closed  # the gateway closed the connection after its answer
    line = audited(gw, "certificate_revoked", request="GET /v1/transfers")
    assert line["partner_claimed"] == "payfast" and line["source_ip"] == "127.0.0.1"
    assert line["subject"] == PAYFAST
    assert line["fingerprint"] == fingerprint(load_issued(gw.layout.partner("payfast")[0]).cert)
    assert ('corridor_eig_refusals_total{partner="payfast",reason="certificate_revoked"}'
            in gw.internal("/metrics"))
    # A new connection with that certificate does not get past the handshake.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        Held(gw).code()
    # Every other partner is still served.
    assert gw.curl("GET", "/v1/transfers", partner="desertx", interface="127.0.0.4")[0] == 200


def test_a_certificate_that_expires_on_an_open_connection_is_refused(fresh_gw: Gateway,
                                                                      tmp_path: Path) -> None:
    gw = fresh_gw
    ca = load_issued(*gw.layout.partner_ca)
    lifetime = dt.timedelta(seconds=8)  # time enough to reload the pin and connect
    short = issue(ca, subject_name(PAYFAST), client=True, days=1,
                  now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1) + lifetime)
    cert = (tmp_path / "short.crt", tmp_path / "short.key")
    write_issued(short, *cert)
    # The pin is the fingerprint of the partner's certificate in pki/partners/.
    shutil.copyfile(cert[0], gw.layout.partner("payfast")[0])
    holder: list[Held] = []

    def admitted() -> bool:
        if holder:
            holder[0].conn.close()
        held = Held(gw, cert)
        holder[:] = [held]
        return held.code() is None

    wait_for(admitted, timeout=5, what="the new pin in force")
    held = holder[0]
    wait_for(lambda: held.code() == "certificate_expired", timeout=15,
             what="certificate_expired on the open connection")
    assert held.closed
    line = audited(gw, "certificate_expired", request="GET /v1/transfers")
    assert line["partner_claimed"] == "payfast" and line["subject"] == PAYFAST


def test_a_moved_pin_refuses_the_open_connection_of_the_old_certificate(fresh_gw: Gateway
                                                                         ) -> None:
    gw = fresh_gw
    held = Held(gw)
    assert held.code() is None
    old = fingerprint(load_issued(gw.layout.partner("payfast")[0]).cert)
    result = CliRunner().invoke(pki_cli, ["issue", "payfast", "--site", str(gw.site)])
    assert result.exit_code == 0, result.output
    wait_for(lambda: held.code() == "certificate_not_pinned", timeout=5,
             what="certificate_not_pinned on the open connection")
    audited(gw, "certificate_not_pinned", fingerprint=old, request="GET /v1/transfers")


def test_a_rotated_key_and_a_disable_refuse_the_open_connection(fresh_gw: Gateway) -> None:
    gw = fresh_gw
    held = Held(gw)
    assert held.code() is None
    runner = CliRunner()
    result = runner.invoke(partner_cli, ["key", "rotate", "payfast", "--site", str(gw.site)])
    assert result.exit_code == 0
    wait_for(lambda: held.code() == "api_key_invalid", timeout=5,
             what="the old key refused on the open connection")
    held.key = result.output.split("api key payfast: ")[1].split()[0]
    assert held.code() is None  # the same connection, with the new key
    result = runner.invoke(partner_cli, ["disable", "payfast", "--site", str(gw.site)])
    assert result.exit_code == 0
    wait_for(lambda: held.code() == "partner_disabled", timeout=5,
             what="partner_disabled on the open connection")
    audited(gw, "partner_disabled", partner_claimed="payfast", request="GET /v1/transfers")
