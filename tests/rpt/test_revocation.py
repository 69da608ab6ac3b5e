"""Operators' certificates can be revoked: `corridor rpt operator-revoke` signs the hub
CA's CRL, and RPT, without a restart, refuses the operator's next request on a connection
already open (403 certificate_revoked, then closed) and every new handshake."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from corridor.cli import cli
from corridor.pki.layout import Layout
from corridor.pki.tls import client_context
from corridor.rpt.operators import issue_operator
from tests.rpt.rig import make_pki
from tests.rpt.server import running_rpt
from tests.support import KeptAlive, copy_site, wait_for


@pytest.fixture
def rpt(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """RPT on a site whose PKI predates the hub CRL (make_pki writes none)."""
    site = copy_site(tmp_path)
    make_pki(site)
    assert not Layout(site).hub_crl.exists()
    with running_rpt(site, tmp_path / "var", "--no-feed") as url:
        yield site, int(url.rsplit(":", 1)[1])


def operator(site: Path, port: int, name: str) -> KeptAlive:
    crt, key, _ = Layout(site).operator(name)
    return KeptAlive(port, client_context(Layout(site).hub_ca[0], crt, key))


def code(conn: KeptAlive) -> str | None:
    """The problem code of the next dashboard request on `conn` (None when served)."""
    status, body, _ = conn.get("/")
    return None if status == 200 else json.loads(body)["code"]


def test_a_revoked_operator_is_refused_on_its_open_connection_and_at_the_handshake(rpt) -> None:  # type: ignore[no-untyped-def]
    site, port = rpt
    issue_operator(site, "alice")
    issue_operator(site, "bob")
    alice = operator(site, port, "alice")
    for _ in range(3):
        assert code(alice) is None
    result = CliRunner().invoke(cli, ["rpt", "operator-revoke", "alice", "--site", str(site)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("revoked operator-alice serial ")
    wait_for(lambda: code(alice) == "certificate_revoked", timeout=1.0,
             what="certificate_revoked on alice's open connection")
    assert alice.closed  # RPT closed the connection after its answer
    with pytest.raises((ssl.SSLError, ConnectionError)):
        code(operator(site, port, "alice"))
    # Other operators, and RPT's other callers, are still served.
    assert code(operator(site, port, "bob")) is None
    hub = Layout(site)
    rpt_cert = KeptAlive(port, client_context(hub.hub_ca[0], *hub.hub("rpt")))
    assert code(rpt_cert) is None


def test_revoking_an_unknown_operator_is_one_clear_line(rpt) -> None:  # type: ignore[no-untyped-def]
    site, _ = rpt
    result = CliRunner().invoke(cli, ["rpt", "operator-revoke", "ghost", "--site", str(site)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: unknown_operator: no operator certificate at {Layout(site).operator('ghost')[0]}"]
    assert not Layout(site).hub_crl.exists()
