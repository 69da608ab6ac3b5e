"""Schemathesis drives the served OpenAPI document against the running gateway with a
valid partner identity: no 5xx, and every response (problems included) matches the
schema it is declared with."""

from __future__ import annotations

import subprocess

from tests.eig.conftest import Gateway
from tests.support import REPO


def test_schemathesis_finds_no_server_errors_or_schema_mismatches(gw: Gateway) -> None:
    cert, key = gw.layout.partner("payfast")
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "st"), "run",
         f"http://127.0.0.1:{gw.internal_port}/openapi.json",
         "--url", gw.url,
         "--tls-verify", str(gw.layout.hub_ca[0]),
         "--request-cert", str(cert), "--request-cert-key", str(key),
         "-H", f"Authorization: Bearer {gw.keys['payfast']}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_headers_conformance,response_schema_conformance",
         "--max-examples", "25", "--seed", "1",
         "--phases", "examples,coverage,fuzzing",
         "--exclude-operation-id", "receiver_callback",
         "--request-timeout", "10"],
        capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
