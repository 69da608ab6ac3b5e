"""The hub PKI as an operator uses it: bootstrap, issue from a CSR made by openssl,
revoke (checked by openssl's own verifier), expiry watch and its gauges."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import stat
import subprocess
from pathlib import Path

from cryptography import x509
from prometheus_client import CollectorRegistry, generate_latest

from corridor.pki.issue import fingerprint, issue, load_issued, write_issued
from corridor.pki.layout import Layout
from corridor.pki.watch import ExpiryCollector
from corridor.site import load_site
from tests.pki.conftest import run
from tests.support import EXAMPLE_SITE, REPO, need_tool


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bootstrap_creates_a_complete_pinned_site(booted: Path) -> None:
    layout = Layout(booted)
    site = load_site(booted)
    for partner in site.partners.values():
        cert, key = layout.partner(partner.id)
        assert partner.cert_pin_sha256 == fingerprint(load_issued(cert).cert)
        assert mode(key) == 0o600
        assert mode(partner.api_key_file) == 0o600
        assert partner.api_key_file.read_text().startswith("sha256:")
        assert mode(partner.callback_secret_file) == 0o600
    for name in ("eig", "txn", "rpt"):
        cert, key = layout.hub(name)
        assert mode(key) == 0o600 and cert.exists()
    assert mode(layout.hub_ca[1]) == 0o600 and mode(layout.partner_ca[1]) == 0o600
    keys = json.loads(layout.demo_keys.read_text())
    assert set(keys) == set(site.partners) and mode(layout.demo_keys) == 0o600


def test_bootstrap_in_a_checkout_leaves_git_status_clean(tmp_path: Path) -> None:
    """The README's steps bootstrap the demo site where it is checked out: the tools write
    only what .gitignore covers, never a tracked file."""
    need_tool("git")
    clone = tmp_path / "clone"
    site = clone / EXAMPLE_SITE.relative_to(REPO)
    shutil.copytree(EXAMPLE_SITE, site, ignore=shutil.ignore_patterns("pki", "secrets"))
    shutil.copy(REPO / ".gitignore", clone / ".gitignore")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=op", "-c", "user.email=op@hub", *args],
                              cwd=clone, capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "demo site")
    code, out = run("bootstrap", "--site", str(site))
    assert code == 0, out
    assert (site / "pki" / "partner-ca.crt").exists() and (site / "secrets").is_dir()
    assert git("status", "--porcelain", "--untracked-files=all") == ""


def test_bootstrap_is_idempotent(booted: Path) -> None:
    layout = Layout(booted)
    before = {p: p.read_bytes() for p in layout.certificates()}
    code, out = run("bootstrap", "--site", str(booted))
    assert code == 0 and "already complete" in out
    assert {p: p.read_bytes() for p in layout.certificates()} == before


def test_hub_certificates_verify_with_openssl(booted: Path) -> None:
    need_tool("openssl")
    layout = Layout(booted)
    for name in ("eig", "txn"):
        out = subprocess.run(
            ["openssl", "verify", "-CAfile", str(layout.hub_ca[0]), "-purpose", "sslserver",
             str(layout.hub(name)[0])], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                           str(layout.hub("eig")[0])], capture_output=True, text=True).stdout
    assert "IP Address:127.0.0.1" in text


def test_issue_from_an_openssl_csr_pins_it_and_keeps_no_key(booted: Path, tmp_path: Path) -> None:
    need_tool("openssl")
    key, csr = tmp_path / "p.key", tmp_path / "p.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr),
                    "-subj", "/CN=whatever-the-partner-typed"], check=True, capture_output=True)
    code, out = run("issue", "mobicash", "--csr", str(csr), "--site", str(booted))
    assert code == 0, out
    layout = Layout(booted)
    cert_path, key_path = layout.partner("mobicash")
    assert not key_path.exists()
    cert = load_issued(cert_path).cert
    # The subject comes from the site, not from what the CSR asked for.
    assert cert.subject.rfc4514_string() == "CN=mobicash,O=MobiCash Kenya,C=KE"
    assert load_site(booted).partner("mobicash").cert_pin_sha256 == fingerprint(cert)
    # The certificate belongs with the partner's own key.
    mod = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", str(cert_path)],
                         capture_output=True, text=True).stdout
    pub = subprocess.run(["openssl", "pkey", "-pubout", "-in", str(key)],
                         capture_output=True, text=True).stdout
    assert mod == pub


def test_a_bad_csr_is_a_clear_error(booted: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csr"
    bad.write_text("not a csr")
    code, out = run("issue", "payfast", "--csr", str(bad), "--site", str(booted))
    assert code == 1 and out.strip() == "error: not a PEM certificate signing request"
    code, out = run("issue", "nobody", "--site", str(booted))
    assert code == 1 and "no partner 'nobody'" in out and "Traceback" not in out


def test_revoke_lands_in_the_crl_openssl_reads(booted: Path) -> None:
    need_tool("openssl")
    layout = Layout(booted)
    cert = layout.partner("payfast")[0]

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "verify", "-crl_check", "-CAfile", str(layout.partner_ca[0]),
             "-CRLfile", str(layout.partner_crl), str(cert)], capture_output=True, text=True)

    assert verify().returncode == 0
    code, out = run("revoke", "payfast", "--site", str(booted))
    assert code == 0, out
    result = verify()
    assert result.returncode != 0 and "revoked" in (result.stdout + result.stderr)


def test_bootstrap_gives_the_hub_ca_a_crl_even_on_an_older_site(booted: Path) -> None:
    need_tool("openssl")
    layout = Layout(booted)

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "verify", "-crl_check", "-CAfile", str(layout.hub_ca[0]),
             "-CRLfile", str(layout.hub_crl), str(layout.hub("rpt")[0])],
            capture_output=True, text=True)

    assert verify().returncode == 0, verify().stderr
    # A site bootstrapped before the hub CA had a CRL gets one on the next run.
    layout.hub_crl.unlink()
    code, out = run("bootstrap", "--site", str(booted))
    assert code == 0 and out.splitlines() == ["created pki/hub-ca.crl"]
    assert verify().returncode == 0


def test_crl_re_signs_both_crls_and_watch_sees_both(booted: Path) -> None:
    from corridor.pki.crl import load_crl

    layout = Layout(booted)
    code, out = run("crl", "--site", str(booted))
    assert code == 0
    assert out.splitlines() == [f"signed {layout.partner_crl}", f"signed {layout.hub_crl}"]
    for path in (layout.partner_crl, layout.hub_crl):
        crl = load_crl(path)
        assert crl is not None
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    code, out = run("list", "--site", str(booted))
    assert "pki/hub-ca.crl" in out and "pki/partner-ca.crl" in out


def test_rotate_moves_the_pin_and_revokes_the_old(booted: Path) -> None:
    layout = Layout(booted)
    old = load_issued(layout.partner("payfast")[0]).cert
    code, out = run("rotate", "payfast", "--site", str(booted))
    assert code == 0, out
    new = load_issued(layout.partner("payfast")[0]).cert
    assert new.serial_number != old.serial_number
    assert load_site(booted).partner("payfast").cert_pin_sha256 == fingerprint(new)
    from corridor.pki.crl import is_revoked
    assert is_revoked(layout.partner_crl, old.serial_number)
    assert not is_revoked(layout.partner_crl, new.serial_number)


def test_watch_catches_expiring_and_expired_certificates(booted: Path) -> None:
    code, out = run("watch", "--site", str(booted), "--within", "30d")
    assert code == 0, out
    code, out = run("issue", "payfast", "--days", "3", "--site", str(booted))
    assert code == 0
    layout = Layout(booted)
    ca = load_issued(*layout.partner_ca)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    write_issued(issue(ca, "mobicash", client=True, now=past), *layout.partner("mobicash"))
    code, out = run("watch", "--site", str(booted), "--within", "30d")
    assert code == 1
    assert "pki/partners/payfast.crt: payfast expires in 3.0d" in out
    assert "pki/partners/mobicash.crt: mobicash EXPIRED" in out
    code, out = run("watch", "--site", str(booted), "--within", "soon")
    assert code == 2 and "error:" in out


def test_expiry_gauges_carry_exporter_names(booted: Path) -> None:
    registry = CollectorRegistry()
    registry.register(ExpiryCollector(booted))
    text = generate_latest(registry).decode()
    line = next(x for x in text.splitlines()
                if x.startswith("x509_cert_expires_in_seconds") and "payfast.crt" in x)
    assert 'subject_CN="payfast"' in line
    assert 364 * 86400 < float(line.rsplit(" ", 1)[1]) <= 365 * 86400
    assert "x509_cert_expired{" in text and "x509_crl_expires_in_seconds{" in text


def test_operators_certificates_are_watched_too(booted: Path) -> None:
    # Prometheus scrapes TXN and RPT with an operator certificate: its expiry must alert.
    from corridor.rpt.operators import issue_operator

    issue_operator(booted, "prometheus", days=10)
    code, out = run("watch", "--site", str(booted), "--within", "30d")
    assert code == 1 and "pki/operators/prometheus.crt: operator-prometheus expires in" in out
    registry = CollectorRegistry()
    registry.register(ExpiryCollector(booted))
    assert 'filepath="pki/operators/prometheus.crt"' in generate_latest(registry).decode()
