"""The treasury's endpoint on `corridor serve txn`, over real mutual TLS on each store: an
operator's certificate pushes a rate, the next quote uses it; a move beyond the band needs a
second operator's certificate; bad rates, the hub's own servers and a revoked operator are
refused with their codes, and nothing changes."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.pki.layout import Layout
from corridor.pki.tls import following_client_context
from corridor.rpt.operators import issue_operator, revoke_operator
from tests.support import copy_site, wait_for
from tests.txn.rig import quote_body
from tests.txn.serving import Client, TxnProcess, bootstrapped_site


@pytest.fixture
def txn(tmp_path: Path, dsn: str) -> Iterator[TxnProcess]:
    site_dir = bootstrapped_site(copy_site(tmp_path))
    for name in ("alice", "bob", "mallory"):
        issue_operator(site_dir, name)
    proc = TxnProcess(site_dir, tmp_path, dsn)
    proc.start()
    try:
        yield proc
    finally:
        proc.kill(signal.SIGTERM)


def operator(txn: TxnProcess, name: str) -> Client:
    layout = Layout(txn.site_dir)
    crt, key, _ = layout.operator(name)
    return Client(txn.port, following_client_context(layout.hub_ca[0], crt, key))


def push(client: Client, **body: object) -> tuple[int, dict[str, object]]:
    return client.request("POST", "/internal/v1/fx/rates", json.dumps(body).encode(),
                          {"Content-Type": "application/json"})


def quoted_rate(txn: TxnProcess, key: str) -> str:
    status, quote = txn.client("eig").post("/internal/v1/quotes", quote_body(), key=key)
    assert status == 201, quote
    return str(quote["rate"])


def test_an_operator_pushes_a_rate_and_a_second_one_confirms_a_big_move(txn: TxnProcess
                                                                        ) -> None:
    alice, bob = operator(txn, "alice"), operator(txn, "bob")
    status, row = push(alice, pair="INR/KES", rate="1.5500", source="refinitiv")
    assert status == 201, row
    assert (row["state"], row["pushed_by"], row["source"]) == ("live", "alice", "refinitiv")
    assert quoted_rate(txn, "q1") == "1.52675000"  # 1.55 less the 150 bps margin
    status, problem = push(alice, pair="INR/KES", rate="1.8000")
    assert (status, problem["code"]) == (409, "rate_move_beyond_band"), problem
    assert quoted_rate(txn, "q2") == "1.52675000"
    proposal = problem["proposal_id"]
    status, problem = alice.request("POST", f"/internal/v1/fx/rates/{proposal}/confirm")
    assert (status, problem["code"]) == (409, "same_operator")
    status, row = bob.request("POST", f"/internal/v1/fx/rates/{proposal}/confirm")
    assert status == 200, row
    assert (row["state"], row["pushed_by"], row["confirmed_by"]) == ("live", "alice", "bob")
    assert quoted_rate(txn, "q3") == "1.77300000"


@pytest.mark.parametrize(("body", "code"), [
    ({"pair": "INR/KES", "rate": 1.55}, "invalid_rate"),  # a JSON number: never rounded
    ({"pair": "INR/KES", "rate": "-1.55"}, "rate_not_positive"),
    ({"pair": "INR/KES", "rate": "1.5.5"}, "invalid_rate"),
    ({"pair": "INRKES", "rate": "1.55"}, "invalid_pair"),
    ({"pair": "INR/KES", "rate": "1.55", "extra": 1}, "invalid_request"),
])
def test_a_bad_push_is_refused_and_changes_nothing(txn: TxnProcess, body: dict[str, object],
                                                   code: str) -> None:
    status, problem = push(operator(txn, "alice"), **body)
    assert (status, problem["code"]) == (422, code), problem
    assert quoted_rate(txn, "q") == "1.51808200"


def test_only_a_standing_operator_may_push(txn: TxnProcess) -> None:
    for server in ("eig", "rpt"):
        status, problem = txn.client(server).post("/internal/v1/fx/rates", json.dumps(
            {"pair": "INR/KES", "rate": "1.55"}).encode())
        assert (status, problem["code"]) == (403, "caller_not_allowed")
    mallory = operator(txn, "mallory")
    status, _ = push(mallory, pair="INR/KES", rate="1.5500")
    assert status == 201
    revoke_operator(txn.site_dir, "mallory")
    # Once TXN has loaded the CRL (the same rate again until then), the connection opened
    # before the revocation is refused on its next call.
    status, problem = wait_for(lambda: (r := push(mallory, pair="INR/KES", rate="1.5500"))[0]
                               == 403 and r, what="the revocation to reach TXN")
    assert problem["code"] == "certificate_revoked"
    status, problem = push(mallory, pair="INR/KES", rate="1.5600")
    assert (status, problem["code"]) == (403, "certificate_revoked")
    assert quoted_rate(txn, "q") == "1.52675000"
