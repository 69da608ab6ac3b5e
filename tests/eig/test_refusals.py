"""Every way a caller is turned away, driven with curl and openssl s_client against the
real `corridor serve eig`: each is refused, written to the security audit log with its
reason, and nothing reaches TXN."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from click.testing import CliRunner

from corridor.eig.cli import partner as partner_cli
from corridor.pki.cli import pki as pki_cli
from corridor.pki.issue import (
    create_ca,
    fingerprint,
    issue,
    load_issued,
    subject_name,
    write_issued,
)
from tests.eig.conftest import Gateway
from tests.support import need_tool, wait_for

PAYFAST = "CN=payfast,O=PayFast Remittances,C=IN"
QUOTE = {"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",
         "payout_method": "wallet", "send_amount": "1000.00"}


def audited(gw: Gateway, reason: str, **match: object) -> dict:
    """Wait for the audit line with `reason` (and the given fields) and return it."""
    def find() -> dict | None:
        for line in gw.audit_lines():
            if line["reason"] == reason and all(line.get(k) == v for k, v in match.items()):
                return line
        return None
    return wait_for(find, timeout=5, what=f"audit line {reason}")


def s_client(gw: Gateway, *args: str) -> str:
    need_tool("openssl")
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{gw.port}", "-CAfile",
         str(gw.layout.hub_ca[0]), "-ign_eof", *args],
        input=b"GET /v1/transfers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        capture_output=True, timeout=20)
    return (out.stdout + out.stderr).decode(errors="replace")


def test_a_valid_partner_is_served(gw: Gateway) -> None:
    before = gw.reached_txn("/internal/v1/quotes")
    status, body, _ = gw.curl("POST", "/v1/quotes", body=QUOTE,
                              headers={"Idempotency-Key": "ok-1"})
    assert status == 201 and body["send_currency"] == "INR"
    assert gw.reached_txn("/internal/v1/quotes") == before + 1


def test_no_client_certificate_fails_the_handshake(gw: Gateway) -> None:
    out = s_client(gw)
    assert "HTTP/1.1 " not in out and "alert certificate required" in out
    status, _, _ = gw.curl("GET", "/v1/transfers", partner=None, key=gw.keys["payfast"])
    assert status < 0  # curl saw the connection refused by TLS
    audited(gw, "no_client_certificate", request="TLS handshake")


def test_certificate_from_another_ca_is_refused(gw: Gateway, tmp_path: Path) -> None:
    rogue_ca = create_ca("Rogue CA")
    rogue = issue(rogue_ca, "payfast", client=True)
    cert, key = tmp_path / "rogue.crt", tmp_path / "rogue.key"
    write_issued(rogue, cert, key)
    out = s_client(gw, "-cert", str(cert), "-key", str(key))
    assert "HTTP/1.1 " not in out and "alert unknown ca" in out
    line = audited(gw, "unknown_ca")
    assert "CN=payfast" in line["subject"] and line["fingerprint"] == fingerprint(rogue.cert)
    assert line["source_ip"] == "127.0.0.1"


def test_expired_certificate_is_refused(gw: Gateway, tmp_path: Path) -> None:
    ca = load_issued(*gw.layout.partner_ca)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    cert, key = tmp_path / "old.crt", tmp_path / "old.key"
    write_issued(issue(ca, subject_name(PAYFAST), client=True, now=old),
                 cert, key)
    status, body, _ = gw.curl("GET", "/v1/transfers", cert=(cert, key))
    assert status < 0 and "alert certificate expired" in body["stderr"]
    line = audited(gw, "certificate_expired")
    assert line["subject"] == "CN=payfast,O=PayFast Remittances,C=IN"


def test_certificate_of_the_right_ca_but_not_pinned_is_refused(gw: Gateway, tmp_path: Path
                                                               ) -> None:
    ca = load_issued(*gw.layout.partner_ca)
    cert, key = tmp_path / "twin.crt", tmp_path / "twin.key"
    write_issued(issue(ca, subject_name(PAYFAST), client=True), cert, key)
    status, body, _ = gw.curl("GET", "/v1/transfers", cert=(cert, key))
    assert status == 403 and body["code"] == "certificate_not_pinned"
    audited(gw, "certificate_not_pinned", subject="CN=payfast,O=PayFast Remittances,C=IN")


def test_mobicash_certificate_with_payfast_key_is_refused(gw: Gateway) -> None:
    before = gw.reached_txn("/internal/v1/callbacks/receiver")
    status, body, _ = gw.curl("POST", "/v1/callbacks/receiver", partner="mobicash",
                              key=gw.keys["payfast"], interface="127.0.0.2",
                              body={"transfer_id": "t-1", "status": "SUCCESS"},
                              headers={"Idempotency-Key": "x1", "Corridor-Signature": "t=1,v1=0"})
    assert status == 403 and body["code"] == "api_key_wrong_partner"
    line = audited(gw, "api_key_wrong_partner")
    assert line["partner_claimed"] == "mobicash" and line["source_ip"] == "127.0.0.2"
    assert gw.reached_txn("/internal/v1/callbacks/receiver") == before
    assert gw.keys["payfast"] not in gw.audit.read_text()  # no secret in the log


def test_source_ip_outside_the_allowlist_is_refused(gw: Gateway) -> None:
    status, body, _ = gw.curl("GET", "/v1/transfers", interface="127.0.0.9")
    assert status == 403 and body["code"] == "source_ip_not_allowed"
    audited(gw, "source_ip_not_allowed", source_ip="127.0.0.9", partner_claimed="payfast")


def test_wrong_or_missing_api_key_is_refused(gw: Gateway) -> None:
    status, body, headers = gw.curl("GET", "/v1/transfers", key="cor_live_" + "0" * 64)
    assert status == 401 and body["code"] == "api_key_invalid"
    assert headers["www-authenticate"].startswith("Bearer")
    status, body, _ = gw.curl("GET", "/v1/transfers", key="")
    assert status == 401 and body["code"] == "api_key_missing"
    audited(gw, "api_key_invalid", partner_claimed="payfast")
    audited(gw, "api_key_missing")


def test_refusals_are_counted_in_metrics(gw: Gateway) -> None:
    gw.curl("GET", "/v1/transfers", interface="127.0.0.9")
    text = gw.internal("/metrics")
    # PayFast's certificate from an address outside its allowlist: counted against it.
    assert ('corridor_eig_refusals_total{partner="payfast",reason="source_ip_not_allowed"}'
            in text)


def test_revoked_certificate_is_refused_after_a_live_crl_reload(fresh_gw: Gateway) -> None:
    gw = fresh_gw
    assert gw.curl("GET", "/v1/transfers", partner="desertx", interface="127.0.0.4")[0] == 200
    result = CliRunner().invoke(pki_cli, ["revoke", "desertx", "--site", str(gw.site)])
    assert result.exit_code == 0, result.output
    wait_for(lambda: gw.curl("GET", "/v1/transfers", partner="desertx",
                             interface="127.0.0.4")[0] < 0, timeout=10, what="CRL reload")
    line = audited(gw, "certificate_revoked", source_ip="127.0.0.4")
    assert line["partner_claimed"] == "desertx"
    # The same process still serves everyone else.
    assert gw.curl("GET", "/v1/transfers")[0] == 200


def test_disabled_partner_and_rotated_key_take_effect_without_restart(fresh_gw: Gateway
                                                                       ) -> None:
    gw = fresh_gw
    runner = CliRunner()
    result = runner.invoke(partner_cli, ["key", "rotate", "payfast", "--site", str(gw.site)])
    assert result.exit_code == 0
    new_key = result.output.split("api key payfast: ")[1].split()[0]
    wait_for(lambda: gw.curl("GET", "/v1/transfers")[1].get("code") == "api_key_invalid",
             what="old key refused")
    assert gw.curl("GET", "/v1/transfers", key=new_key)[0] == 200
    result = runner.invoke(partner_cli, ["disable", "payfast", "--site", str(gw.site)])
    assert result.exit_code == 0
    wait_for(lambda: gw.curl("GET", "/v1/transfers", key=new_key)[1].get("code")
             == "partner_disabled", what="partner disabled")
    audited(gw, "partner_disabled", partner_claimed="payfast")
