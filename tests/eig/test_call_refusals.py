"""Partner calls refused for who made them once the caller's identity has passed: a bad,
stale or missing callback signature, a receive partner reporting on another partner's
payout, a call outside the partner's role. Whether EIG refuses the call or TXN does, each
is one line in the security audit log (time, source address, certificate fingerprint,
partner, transfer id, reason) and counts in the refusal metric, and the line holds no
signature."""

from __future__ import annotations

import os
import re
import time

from corridor.core.signature import HEADER, sign
from corridor.pki.issue import fingerprint, load_issued
from tests.eig.conftest import Gateway, transfer_body

CALLBACK = "/v1/callbacks/receiver"
SOURCE = {"payfast": "127.0.0.1", "mobicash": "127.0.0.2", "islapay": "127.0.0.3"}


def refusals(gw: Gateway, reason: str, partner: str) -> float:
    found = re.search(r'^corridor_eig_refusals_total\{partner="' + re.escape(partner)
                      + r'",reason="' + re.escape(reason) + r'"\} ([0-9.e+]+)$',
                      gw.internal("/metrics"), re.M)
    return float(found.group(1)) if found else 0.0


def secret(gw: Gateway, partner: str) -> bytes:
    return bytes.fromhex((gw.site / "secrets" / f"{partner}.hmac").read_text().strip())


def refused(gw: Gateway, method: str, path: str, partner: str, status: int, reason: str,
            raw: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    """Make the call as `partner`; check the refusal, that it wrote exactly one audit line
    naming the partner, its certificate and address, and that the metric moved. Returns
    the line."""
    lines, counted = len(gw.audit_lines()), refusals(gw, reason, partner)
    headers = dict(headers or {})
    if method == "POST":
        headers["Idempotency-Key"] = f"r-{os.urandom(6).hex()}"
    got, body, _ = gw.curl(method, path, partner=partner, interface=SOURCE[partner],
                           raw=raw, headers=headers)
    assert (got, body["code"]) == (status, reason), body
    new = gw.audit_lines()[lines:]  # written before the answer is sent
    assert len(new) == 1, new
    [line] = new
    assert line["reason"] == reason and line["partner"] == partner
    assert line["source_ip"] == SOURCE[partner]
    assert line["fingerprint"] == fingerprint(load_issued(gw.layout.partner(partner)[0]).cert)
    assert line["request"] == f"{method} {path}" and line["time"]
    assert refusals(gw, reason, partner) == counted + 1
    return line


def report(transfer_id: str) -> bytes:
    return f'{{"transfer_id": "{transfer_id}", "status": "SUCCESS"}}'.encode()


def test_a_forged_callback_signature_is_audited(gw: Gateway) -> None:
    raw = report("t-forged-1")
    forged = sign(b"not mobicash's secret", raw, int(time.time()))
    line = refused(gw, "POST", CALLBACK, "mobicash", 401, "bad_signature", raw,
                   {HEADER: forged})
    assert line["transfer_id"] == "t-forged-1"
    assert "does not match" in line["detail"]
    assert forged.partition("v1=")[2] not in gw.audit.read_text()


def test_a_stale_callback_signature_is_audited(gw: Gateway) -> None:
    raw = report("t-stale-1")
    stale = sign(secret(gw, "mobicash"), raw, int(time.time()) - 3600)
    line = refused(gw, "POST", CALLBACK, "mobicash", 401, "bad_signature", raw,
                   {HEADER: stale})
    assert line["transfer_id"] == "t-stale-1" and "stale" in line["detail"]
    assert stale.partition("v1=")[2] not in gw.audit.read_text()


def test_an_unsigned_callback_is_audited(gw: Gateway) -> None:
    line = refused(gw, "POST", CALLBACK, "mobicash", 401, "signature_missing",
                   report("t-unsigned-1"))
    assert line["transfer_id"] == "t-unsigned-1"


def test_a_callback_on_another_partners_payout_is_audited(gw: Gateway) -> None:
    reference = f"PF-{os.urandom(4).hex()}"
    status, created, _ = gw.curl("POST", "/v1/transfers",
                                 body=transfer_body(gw.quote(), reference),
                                 headers={"Idempotency-Key": reference})
    assert status == 201, created  # routed to MobiCash (KES)
    raw = report(created["id"])
    signed = sign(secret(gw, "islapay"), raw, int(time.time()))
    line = refused(gw, "POST", CALLBACK, "islapay", 403, "not_your_transfer", raw,
                   {HEADER: signed})
    assert line["transfer_id"] == created["id"]
    assert signed.partition("v1=")[2] not in gw.audit.read_text()


def test_calls_outside_the_partners_role_are_audited(gw: Gateway) -> None:
    raw = report("t-role-1")
    signed = sign(secret(gw, "payfast"), raw, int(time.time()))
    line = refused(gw, "POST", CALLBACK, "payfast", 403, "role_not_allowed", raw,
                   {HEADER: signed})
    assert line["transfer_id"] is None  # the body of a call it may not make is not read
    assert signed.partition("v1=")[2] not in gw.audit.read_text()
    line = refused(gw, "GET", "/v1/transfers/t-role-2", "mobicash", 403, "role_not_allowed")
    assert line["transfer_id"] == "t-role-2"
