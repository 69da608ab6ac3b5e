"""Onboarding and offboarding against a running hub: real EIG, TXN and RPT processes, the
firewall's nftables in a network namespace and a real pluto in another.

After `partner onboard` the new partner's kit (certificate, key) and printed API key get
a quote through EIG from its allowlisted address, and its allowlist and tunnel are live.
`partner offboard` is refused while it has a transfer in flight and changes nothing; told
to cancel, it shuts every door (TLS refused, key refused, tunnel and allowlist gone,
each refusal audited) and its transfer stays readable in TXN and in RPT's report."""

from __future__ import annotations

import datetime as dt
import json
import signal
from pathlib import Path

import pytest

from corridor.net.plutod import PlutoDaemon, TunnelCA
from corridor.partners import log
from corridor.site import check_site, load_site
from corridor.site.edit import relocate
from tests.eig.conftest import (
    QUOTE,
    Gateway,
    Stack,
    start_gateway,
    stop_gateway,
    transfer_body,
)
from tests.eig.test_refusals import audited
from tests.net.netns import lab, sh
from tests.partners.support import PARTNER, SOURCE_IP, api_key, booted_site, corridor, onboard
from tests.rpt.server import running_rpt
from tests.support import need_root, need_tool, site_snapshot, wait_for
from tests.txn.serving import TxnProcess

TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def ruleset(ns: str) -> str:
    return sh("nft", "list", "table", "inet", "corridor", ns=ns).stdout


def test_onboard_then_offboard_on_a_running_hub(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    need_root()
    need_tool("curl", "ip", "nft", "ipsec", "certutil", "pk12util")
    site = booted_site(tmp_path / "hub")
    data = tmp_path / "hub" / "var"
    data.mkdir()
    assert corridor("store", "init", "--site", str(site), "--data", str(data)).returncode == 0
    monkeypatch.setenv("CORRIDOR_TXN_HOLD_PAYOUTS", "1")  # a transfer stays in flight
    txn = TxnProcess(site, data, load_site(site).hub.store_txn)
    relocate(site, {"txn": txn.port})
    txn.start()
    gw: Gateway | None = None
    with lab() as world:
        fw_ns = world.ns("fw")
        pluto = PlutoDaemon(world.ns("vh"), tmp_path / "pluto", tmp_path / "pluto" / "ipsec.d")
        ca = TunnelCA(tmp_path)  # the hub's NSS certificate, for the certificate tunnel
        pluto.import_ca(ca.pem)
        pluto.import_p12(ca.issue("corridor-hub", "vpn.corridor.example", "pw"), "pw")
        pluto.start()
        try:
            # The whole hub runs before the partner arrives and is never restarted.
            with running_rpt(site, data) as rpt_url:
                gw = start_gateway(Stack(site, data, txn, rpt_url), tmp_path / "eig",
                                   own_site=False)
                perimeter = ["--netns", fw_ns, "--ipsec-dir", str(pluto.conf_dir),
                             "--ctlsocket", str(pluto.ctl)]
                run_scenario(gw, txn, data, perimeter, fw_ns, pluto, tmp_path)
        finally:
            pluto.stop()
            if gw is not None:
                stop_gateway(gw)
            txn.kill(signal.SIGTERM)


def run_scenario(gw: Gateway, txn: TxnProcess, data: Path, perimeter: list[str], fw_ns: str,
                 pluto: PlutoDaemon, tmp_path: Path) -> None:
    site = gw.site
    live = ["--site", str(site), "--data", str(data)]
    assert corridor("firewall", "apply", *live, "--netns", fw_ns).returncode == 0
    out = corridor("vpn", "apply", *live, "--out", str(pluto.conf_dir), "--ctlsocket",
                   str(pluto.ctl))
    assert out.returncode == 0, out.stderr

    # Onboard while the hub runs: EIG serves the partner without a restart, and its
    # allowlist and tunnel go live.
    kit = tmp_path / "kit"
    out = onboard(site, data, kit, *perimeter)
    assert out.returncode == 0, out.stderr
    key = api_key(out)
    assert f"firewall: netns {fw_ns}: applied" in out.stdout
    assert "zamzam.conf, zamzam.secrets; loaded in pluto" in out.stdout
    assert '"eig zamzam"' in ruleset(fw_ns) and f"{SOURCE_IP}" in ruleset(fw_ns)
    assert '"zamzam":' in pluto.whack("--status")
    cert = (kit / f"{PARTNER}.crt", kit / f"{PARTNER}.key")
    wait_for(lambda: gw.curl("GET", "/v1/transfers", partner=None, cert=cert, key=key,
                             interface=SOURCE_IP)[0] == 200, what="EIG serving the partner")
    assert gw.curl("GET", "/v1/transfers", key=key)[1]["code"] == "api_key_wrong_partner"

    # TXN and RPT follow the site too: the new partner is funded, quotes, sends and reads
    # its report with no server restarted.
    fund = corridor("ledger", "fund", PARTNER, "100000.00", "--reference", "zz-float", *live)
    assert fund.returncode == 0, fund.stderr
    status, quote, _ = gw.curl("POST", "/v1/quotes", partner=None, cert=cert, key=key,
                               interface=SOURCE_IP, body=QUOTE,
                               headers={"Idempotency-Key": "zz-q1"})
    assert status == 201, quote
    status, transfer, _ = gw.curl("POST", "/v1/transfers", partner=None, cert=cert, key=key,
                                  interface=SOURCE_IP, body=transfer_body(quote["id"], "zz-1"),
                                  headers={"Idempotency-Key": "zz-t1"})
    assert status in (201, 202) and transfer["status"] == "ACCEPTED", transfer
    tid = transfer["id"]

    def in_its_report() -> bool:
        status, body, _ = gw.curl("GET", f"/v1/reports/transactions?from={TODAY}&to={TODAY}",
                                  partner=None, cert=cert, key=key, interface=SOURCE_IP)
        rows = body.get("transfers", []) if status == 200 and isinstance(body, dict) else []
        return any(r.get("transfer_id") == tid for r in rows)

    wait_for(in_its_report, timeout=20, interval=0.5, what="the new partner's own report")

    # In flight: refused, and nothing changes (waiting does not help: payouts are held).
    before = site_snapshot(site)
    for extra in ([], ["--in-flight", "wait", "--wait", "1"]):
        out = corridor("partner", "offboard", PARTNER, *live, *perimeter, *extra)
        assert out.returncode == 1, out.stdout
        assert "zamzam has 1 transfer(s) in flight (ACCEPTED 1)" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
        assert site_snapshot(site) == before
    assert '"eig zamzam"' in ruleset(fw_ns)
    out = corridor("partner", "offboard", "mobicash", *live, *perimeter)  # it pays it out
    assert "mobicash has 1 transfer(s) in flight (ACCEPTED 1)" in out.stderr
    assert site_snapshot(site) == before

    out = corridor("partner", "offboard", PARTNER, *live, *perimeter, "--in-flight", "cancel")
    assert out.returncode == 0, out.stderr
    assert f"{tid}: CANCELLED" in out.stdout

    # Every door is shut, and each refusal is audited.
    wait_for(lambda: gw.curl("GET", "/v1/transfers", partner=None, cert=cert, key=key,
                             interface=SOURCE_IP)[0] < 0, what="TLS refused")
    audited(gw, "certificate_revoked", partner_claimed=PARTNER, source_ip=SOURCE_IP)
    # The key hash and the CRL are reloaded each on its own: wait for the key's turn.
    wait_for(lambda: gw.curl("GET", "/v1/transfers", key=key)[1]["code"]
             == "api_key_invalid", what="the offboarded key refused")
    audited(gw, "api_key_invalid", source_ip="127.0.0.1")
    assert "zamzam" not in ruleset(fw_ns) and '"eig payfast"' in ruleset(fw_ns)
    status_text = pluto.whack("--status")
    assert '"zamzam":' not in status_text and '"payfast":' in status_text
    assert not list(pluto.conf_dir.glob("zamzam.*"))

    # The history stays readable: in TXN, and in RPT's report.
    out = corridor("transfers", "list", "--partner", PARTNER, *live)
    assert tid in out.stdout and "CANCELLED" in out.stdout

    def reported() -> bool:
        out = corridor("rpt", "report", "--partner", PARTNER, "--from", TODAY, "--to", TODAY,
                       "--format", "json", *live)
        rows = json.loads(out.stdout)["transfers"] if out.returncode == 0 else []
        return any(r.get("transfer_id") == tid and r.get("status") == "CANCELLED" for r in rows)

    wait_for(reported, timeout=20, interval=0.5, what="RPT reporting the cancelled transfer")

    assert check_site(site) == []
    partner = load_site(site).partner(PARTNER)
    assert partner.disabled and partner.offboarded
    out = corridor("partner", "offboard", PARTNER, *live, *perimeter)
    assert out.returncode == 1 and "was offboarded at" in out.stderr
    onboarded, offboarded = log.read(data)
    assert (onboarded["action"], offboarded["action"]) == ("onboard", "offboard")
    assert offboarded["cancelled"] == [tid] and offboarded["serial"]
    assert key not in (data / "partners" / "log.jsonl").read_text()
