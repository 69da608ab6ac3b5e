"""Renewal: `pki renew` re-issues the hub's certificates before they expire, and a
partner's renewed certificate is pinned beside its old one until the overlap ends."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from corridor.deploy.roles import ROLES, grants
from corridor.pki.authority import server_names
from corridor.pki.issue import fingerprint, issue, load_issued, subject_name, write_issued
from corridor.pki.layout import Layout
from corridor.pki.tls import following_client_context, server_context
from corridor.site import load_site
from tests.pki.conftest import run


def short_lived_hub(site: Path, name: str, left: dt.timedelta) -> int:
    """Re-issue the hub server `name`'s certificate so that it expires in `left`."""
    layout = Layout(site)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1) + left
    issued = issue(load_issued(*layout.hub_ca), name, client=True, server=True, days=1,
                   server_names=server_names(load_site(site), name), now=start)
    write_issued(issued, *layout.hub(name))
    return issued.cert.serial_number


def new_csr(folder: Path, subject: str) -> tuple[Path, Path]:
    """A partner's new key and the CSR it sends the hub."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject_name(subject)).sign(
        key, hashes.SHA256())
    csr_path, key_path = folder / "new.csr", folder / "new.key"
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return csr_path, key_path


def serial(path: Path) -> int:
    return load_issued(path).cert.serial_number


def test_renew_reissues_only_the_hub_certificates_about_to_expire(booted: Path) -> None:
    layout = Layout(booted)
    short = short_lived_hub(booted, "txn", dt.timedelta(days=3))
    others = {name: serial(layout.hub(name)[0]) for name in ("eig", "rpt")}
    code, out = run("renew", "--within", "30d", "--site", str(booted))
    assert code == 0, out
    assert "renewed pki/hub/txn.crt" in out and "eig" not in out
    renewed = load_issued(layout.hub("txn")[0]).cert
    assert renewed.serial_number != short
    assert renewed.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=300)
    assert {name: serial(layout.hub(name)[0]) for name in others} == others
    code, out = run("watch", "--within", "30d", "--site", str(booted))
    assert code == 0, out


def test_watch_names_the_partner_certificates_the_partner_must_renew(
        booted: Path, tmp_path: Path) -> None:
    short_lived_hub(booted, "eig", dt.timedelta(days=3))
    code, out = run("issue", "payfast", "--days", "3", "--site", str(booted))
    assert code == 0, out
    code, out = run("watch", "--within", "30d", "--site", str(booted))
    assert code == 1
    lines = {line.split(":")[0]: line for line in out.splitlines()}
    assert "PARTNER ACTION: payfast must send a new CSR" in lines["pki/partners/payfast.crt"]
    assert "the hub renews it: `corridor pki renew`" in lines["pki/hub/eig.crt"]
    # Once its renewed certificate is pinned, the partner has nothing left to send.
    csr, _ = new_csr(tmp_path, "CN=payfast,O=PayFast Remittances,C=IN")
    code, out = run("renew-partner", "payfast", "--csr", str(csr), "--site", str(booted))
    assert code == 0, out
    code, out = run("watch", "--within", "30d", "--site", str(booted))
    assert "PARTNER ACTION" not in out
    assert "renewed certificate pinned beside it" in out


def test_a_partner_renewal_pins_both_certificates_until_the_overlap_closes(
        booted: Path, tmp_path: Path) -> None:
    layout = Layout(booted)
    old = load_issued(layout.partner("payfast")[0]).cert
    csr, _ = new_csr(tmp_path, "CN=payfast,O=PayFast Remittances,C=IN")
    code, out = run("renew-partner", "payfast", "--csr", str(csr), "--overlap", "1h",
                    "--site", str(booted))
    assert code == 0, out
    new = load_issued(layout.partner_next("payfast")[0]).cert
    partner = load_site(booted).partner("payfast")
    assert partner is not None
    assert (partner.cert_pin_sha256, partner.cert_next_pin_sha256) == (
        fingerprint(old), fingerprint(new))
    # A second renewal while one waits is refused, nothing changed.
    code, out = run("renew-partner", "payfast", "--csr", str(csr), "--site", str(booted))
    assert code == 1 and out.startswith("error: payfast already has a renewed certificate")
    # Within the overlap `pki renew` leaves both in place.
    code, out = run("renew", "--site", str(booted))
    assert code == 0 and "overlap closed" not in out
    assert layout.partner_next("payfast")[0].exists()
    # Once it has ended, the new certificate is the only pin and the old one is revoked.
    layout.partner_overlap_ends("payfast").write_text(
        (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat())
    code, out = run("renew", "--site", str(booted))
    assert code == 0 and "overlap closed for payfast" in out
    assert f"serial {old.serial_number:x} revoked" in out
    partner = load_site(booted).partner("payfast")
    assert partner is not None
    assert (partner.cert_pin_sha256, partner.cert_next_pin_sha256) == (fingerprint(new), "")
    assert not layout.partner_next("payfast")[0].exists()
    assert not layout.partner("payfast")[1].exists()  # the partner holds its own key
    crl = x509.load_pem_x509_crl(layout.partner_crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(old.serial_number) is not None



def test_a_following_client_context_presents_the_renewed_certificate(booted: Path) -> None:
    layout = Layout(booted)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(b"%d\n" % x509.load_der_x509_certificate(der).serial_number)
        await writer.drain()
        writer.close()

    async def scenario() -> tuple[int, int]:
        server_tls = server_context(*layout.hub("txn"), client_ca=layout.hub_ca[0])
        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        client_tls = following_client_context(layout.hub_ca[0], *layout.hub("eig"))

        async def presented() -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_tls)
            line = await reader.readline()
            writer.close()
            return int(line)

        async with server:
            before = await presented()
            short_lived_hub(booted, "eig", dt.timedelta(hours=1))  # as `pki renew` writes it
            return before, await presented()

    original = serial(layout.hub("eig")[0])
    before, after = asyncio.run(scenario())
    assert before == original
    assert after == serial(layout.hub("eig")[0]) != original


def test_revoking_a_partner_revokes_its_waiting_renewal_too(booted: Path, tmp_path: Path) -> None:
    layout = Layout(booted)
    csr, _ = new_csr(tmp_path, "CN=payfast,O=PayFast Remittances,C=IN")
    code, out = run("renew-partner", "payfast", "--csr", str(csr), "--site", str(booted))
    assert code == 0, out
    waiting = serial(layout.partner_next("payfast")[0])
    code, out = run("revoke", "payfast", "--site", str(booted))
    assert code == 0, out
    crl = x509.load_pem_x509_crl(layout.partner_crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(waiting) is not None
    assert not layout.partner_next("payfast")[0].exists()
    partner = load_site(booted).partner("payfast")
    assert partner is not None and partner.cert_next_pin_sha256 == ""


def test_the_gateway_host_is_given_the_renewed_certificate_it_must_pin(
        booted: Path, tmp_path: Path) -> None:
    csr, _ = new_csr(tmp_path, "CN=payfast,O=PayFast Remittances,C=IN")
    code, out = run("renew-partner", "payfast", "--csr", str(csr), "--site", str(booted))
    assert code == 0, out
    given = {g.path for g in grants(load_site(booted), ROLES["eig"])}
    assert Layout(booted).partner_next("payfast")[0] in given
