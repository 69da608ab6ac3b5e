"""PayFast's calls through EIG into the real TXN server (`corridor serve txn`, durable
SQLite store): a quote, a transfer from it, its status, and idempotency as TXN keeps it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.eig.conftest import CORRIDOR, Gateway, boot_site, start_gateway, stop_gateway
from tests.support import free_port, wait_for


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("e2e")
    site, data = boot_site(root), root / "var"
    subprocess.run([CORRIDOR, "ledger", "fund", "payfast", "100000000.00", "--reference",
                    "e2e-seed", "--site", str(site), "--data", str(data)], check=True,
                   capture_output=True)
    port = free_port()
    txn = subprocess.Popen([CORRIDOR, "serve", "txn", "--site", str(site), "--data", str(data),
                            "--listen", f"127.0.0.1:{port}"],
                           stdout=subprocess.DEVNULL, stderr=open(root / "txn.log", "wb"))  # noqa: SIM115

    def listening() -> bool:
        assert txn.poll() is None, (root / "txn.log").read_text()
        import socket
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_for(listening, timeout=20, what="TXN listening")
    gw = start_gateway(root, txn_url=f"https://127.0.0.1:{port}")
    yield gw
    stop_gateway(gw)
    txn.terminate()
    txn.wait(10)


QUOTE = {"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",
         "payout_method": "wallet", "send_amount": "1000.00"}


def transfer(quote_id: str, reference: str) -> dict:
    return {"quote_id": quote_id, "reference": reference, "purpose": "family_support",
            "source_of_funds": "salary",
            "sender": {"name": "Asha Rao", "account": "AC1", "address": "Mumbai",
                       "id_type": "passport", "id_number": "P0000001"},
            "beneficiary": {"name": "John Kamau", "account": "254700000001",
                            "phone": "+254700000001"}}


def test_payfast_quote_and_transfer_through_eig_into_txn(real: Gateway, tmp_path: Path) -> None:
    status, quote, _ = real.curl("POST", "/v1/quotes", body=QUOTE,
                                 headers={"Idempotency-Key": "e2e-q1"})
    assert status == 201 and quote["send_amount"] == "1000.00"
    body = transfer(quote["id"], "PF-E2E-1")
    status, created, _ = real.curl("POST", "/v1/transfers", body=body,
                                   headers={"Idempotency-Key": "e2e-t1"})
    assert status in (200, 201, 202), created
    again = real.curl("POST", "/v1/transfers", body=body, headers={"Idempotency-Key": "e2e-t1"})
    assert again[1]["id"] == created["id"]
    status, problem, _ = real.curl("POST", "/v1/transfers",
                                   body=dict(body, reference="PF-E2E-2"),
                                   headers={"Idempotency-Key": "e2e-t1"})
    assert (status, problem["code"]) == (409, "idempotency_conflict")
    status, got, _ = real.curl("GET", f"/v1/transfers/{created['id']}")
    assert status == 200 and got["reference"] == "PF-E2E-1"
    # DesertX cannot see PayFast's transfer.
    status, _, _ = real.curl("GET", f"/v1/transfers/{created['id']}", partner="desertx",
                             interface="127.0.0.4")
    assert status == 404
