"""The receive-partner simulator as the hub sees it: real HTTPS with TXN's client
certificate, signed requests, a wallet book, payouts credited at most once, queries, and
signed receiver callbacks to a stand-in EIG, retried until acknowledged."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess

from corridor.core.ids import new_id
from corridor.pki.layout import Layout
from corridor.sim.receive import ReceivePartnerSim
from corridor.sim.wallets import FROZEN_SLOT, wallet_account
from tests.sim.rig import KNOWN, Rig, payout, wallet
from tests.support import free_port, need_tool, wait_for


def test_validate_known_and_unknown_accounts_with_name_scores(rig: Rig) -> None:
    ask = {"account": KNOWN, "payout_method": "wallet", "currency": "KES"}
    exact = rig.call("POST", "/v1/accounts/validate", {**ask, "name": "John Kamau"})
    assert exact.status == 200
    assert exact.body == {"account": KNOWN, "valid": True, "holder_name": "JOHN KAMAU",
                          "name_match_score": 100}
    reordered = rig.call("POST", "/v1/accounts/validate", {**ask, "name": "kamau, JOHN"})
    assert reordered.body["name_match_score"] == 100
    close = rig.call("POST", "/v1/accounts/validate", {**ask, "name": "Jon Kamau"})
    other = rig.call("POST", "/v1/accounts/validate", {**ask, "name": "Priya Sharma"})
    assert 80 <= close.body["name_match_score"] < 100
    assert other.body["name_match_score"] < 50
    unknown = rig.call("POST", "/v1/accounts/validate", {**ask, "account": "254799000000"})
    assert unknown.body == {"account": "254799000000", "valid": False}
    no_name = rig.call("POST", "/v1/accounts/validate", ask)
    assert "name_match_score" not in no_name.body and no_name.body["valid"] is True


def test_bad_input_is_a_problem_and_changes_nothing(rig: Rig) -> None:
    wrong_cur = rig.call("POST", "/v1/accounts/validate",
                         {"account": KNOWN, "payout_method": "wallet", "currency": "INR"})
    assert wrong_cur.status == 422 and wrong_cur.body["code"] == "currency_not_supported"
    assert wrong_cur.content_type == "application/problem+json"
    too_precise = rig.call("POST", "/v1/payouts", payout(amount="10.001"), key=new_id())
    assert too_precise.status == 422 and too_precise.body["code"] == "invalid_amount"
    no_key = rig.call("POST", "/v1/payouts", payout())
    assert no_key.status == 400
    assert no_key.body["code"] == "idempotency_key_missing"
    assert wallet(rig)["balance"] == "0.00" and rig.sim.payouts.by_id == {}


def test_submit_credits_once_however_often_it_is_repeated(rig: Rig) -> None:
    body, key = payout(), new_id()
    first = rig.call("POST", "/v1/payouts", body, key=key)
    assert first.status == 201 and first.body["status"] == "PENDING"
    assert first.body["partner_reference"].startswith("MO-")
    for _ in range(3):  # a hub that lost the answer retries with the same key
        again = rig.call("POST", "/v1/payouts", body, key=key)
        assert again.status == 200 and again.body == first.body
    other_key = rig.call("POST", "/v1/payouts", body, key=new_id())  # same payout, new key
    assert other_key.body == first.body
    changed = rig.call("POST", "/v1/payouts", {**body, "amount": "9.00"}, key=key)
    assert changed.status == 409 and changed.body["code"] == "idempotency_conflict"
    book = wallet(rig)
    assert book["balance"] == "1518.08"
    assert [c["payout_id"] for c in book["credits"]] == [body["payout_id"]]
    # The state file a test (or an operator) can read says the same.
    wait_for(lambda: rig.state_file.exists(), what="state file")
    state = json.loads(rig.state_file.read_text())
    assert len(state["wallets"][KNOWN]["credits"]) == 1


def test_query_answers_outcome_and_not_found(rig: Rig) -> None:
    good, bad = payout(), payout(account="254799000000")
    rig.call("POST", "/v1/payouts", good, key=new_id())
    rig.call("POST", "/v1/payouts", bad, key=new_id())
    done = rig.call("GET", f"/v1/payouts/{good['payout_id']}")
    assert done.status == 200 and done.body["status"] == "SUCCESS"
    failed = rig.call("GET", f"/v1/payouts/{bad['payout_id']}")
    assert failed.body["status"] == "FAILURE" and "254799000000" in failed.body["reason"]
    missing = rig.call("GET", f"/v1/payouts/{new_id()}")
    assert missing.status == 404 and missing.body == {"status": "NOT_FOUND"}


def test_frozen_wallet_fails_without_credit(rig: Rig) -> None:
    account = wallet_account("KE", FROZEN_SLOT)
    body = payout(account=account)
    assert rig.call("POST", "/v1/payouts", body, key=new_id()).status == 201
    wait_for(lambda: rig.eig.for_transfer(body["payout_id"]), what="failure callback")
    [callback] = rig.eig.for_transfer(body["payout_id"])
    assert callback["status"] == "FAILURE" and callback["reason"] == "wallet is frozen"
    assert wallet(rig, account)["credits"] == []


def test_bad_or_missing_signature_is_refused_with_401(rig: Rig) -> None:
    body = payout()
    forged = rig.call("POST", "/v1/payouts", body, key=new_id(), secret=b"not the secret")
    assert forged.status == 401 and forged.body["code"] == "bad_signature"
    unsigned = rig.call("POST", "/v1/payouts", body, key=new_id(), sign=False)
    assert unsigned.status == 401
    assert wallet(rig)["balance"] == "0.00"


def test_callback_is_signed_and_retried_until_acknowledged(rig: Rig) -> None:
    rig.eig.fail_first = 3  # EIG answers 503 three times
    body = payout()
    rig.call("POST", "/v1/payouts", body, key=new_id())
    wait_for(lambda: rig.eig.for_transfer(body["payout_id"]), what="callback accepted")
    [callback] = rig.eig.for_transfer(body["payout_id"])
    assert callback["status"] == "SUCCESS" and callback["partner_reference"].startswith("MO-")
    assert rig.eig.attempts == 4
    keys = {h["Idempotency-Key"] for h in rig.eig.headers}
    assert len(keys) == 1  # the retries are the same delivery
    log = rig.call("GET", f"/sim/callbacks?transfer_id={body['payout_id']}", sign=False).body
    assert log[0]["acknowledged"] and log[0]["attempts"] == 4


def test_curl_with_the_hub_certificate_and_without_one(rig: Rig) -> None:
    need_tool("curl")
    layout = Layout(rig.site.root)
    cert, key = layout.hub("txn")
    base = ["curl", "-sS", "--cacert", str(layout.partner_ca[0])]
    out = subprocess.run([*base, "--cert", str(cert), "--key", str(key),
                          f"{rig.sim.url}/sim/wallets/{KNOWN}"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["holder_name"] == "JOHN KAMAU"
    refused = subprocess.run([*base, f"{rig.sim.url}/sim/health"],
                             capture_output=True, text=True, timeout=10)
    assert refused.returncode != 0  # no client certificate: the handshake fails


def test_a_client_without_the_hub_certificate_cannot_connect(rig: Rig) -> None:
    layout = Layout(rig.site.root)
    ctx = ssl.create_default_context(cafile=str(layout.partner_ca[0]))
    ctx.load_cert_chain(*layout.partner("payfast"))  # a partner's, not the hub's
    answer = b""
    with socket.create_connection(("127.0.0.1", rig.sim.listener.port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /sim/health HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = tls.recv(100)
        except (ssl.SSLError, ConnectionResetError):
            pass  # TLS 1.2 refuses in the handshake, TLS 1.3 with an alert on first read
    assert not answer.startswith(b"HTTP")


def test_state_file_survives_a_restart_without_paying_twice(rig: Rig) -> None:
    body, key = payout(), new_id()
    first = rig.call("POST", "/v1/payouts", body, key=key)
    rig.loop.run(rig.sim.stop())  # writes the state file

    async def restart() -> ReceivePartnerSim:
        sim = ReceivePartnerSim(rig.site, "mobicash", listen=("127.0.0.1", free_port()),
                                eig_url=rig.sim.eig_url, api_key=rig.keys["mobicash"],
                                state_file=rig.state_file)
        return await sim.start()

    rig.sim = rig.loop.run(restart())
    rig.hub.base = rig.sim.url
    again = rig.call("POST", "/v1/payouts", body, key=key)
    assert again.status == 200 and again.body == first.body
    assert rig.call("GET", f"/v1/payouts/{body['payout_id']}").body["status"] == "SUCCESS"
    assert len(wallet(rig)["credits"]) == 1 and wallet(rig)["balance"] == "1518.08"
    fresh = rig.call("POST", "/v1/payouts", payout(), key=new_id())
    assert fresh.body["partner_reference"] != first.body["partner_reference"]
