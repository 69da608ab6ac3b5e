"""What the hub's operators do with the PKI: issue, rotate and revoke a partner's client
certificate, and issue the hub servers' certificates. A partner's pin is the fingerprint
of the certificate written to pki/partners/<id>.crt (the site loader reads it there), so
writing the certificate moves the pin. Functions take the loaded `Site`; the CLI is a thin
shell over them."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from corridor.pki.crl import write_crl
from corridor.pki.issue import (
    Issued,
    create_ca,
    csr_public_key,
    issue,
    load_issued,
    subject_name,
    write_issued,
)
from corridor.pki.layout import Layout
from corridor.site.model import Partner, Site

CA_DAYS = 3650
LEAF_DAYS = 365


class PkiError(Exception):
    """An operator request the PKI cannot carry out (missing CA, unknown partner...)."""


def layout_of(site: Site) -> Layout:
    return Layout(site.root)


def load_ca(path_pair: tuple[Path, Path], what: str) -> Issued:
    cert, key = path_pair
    if not cert.exists() or not key.exists():
        raise PkiError(f"no {what} at {cert}; run `corridor pki bootstrap` first")
    return load_issued(cert, key)


def ensure_ca(pair: tuple[Path, Path], common_name: str, force: bool) -> bool:
    """Create a CA unless it exists; True when a new one was made."""
    if pair[0].exists() and pair[1].exists() and not force:
        return False
    write_issued(create_ca(common_name, days=CA_DAYS), *pair)
    return True


def _partner(site: Site, partner_id: str) -> Partner:
    partner = site.partner(partner_id)
    if partner is None:
        raise PkiError(f"no partner {partner_id!r} in {site.root}/partners")
    return partner


def issue_partner(
    site: Site, partner_id: str, csr_pem: bytes | None = None, days: int = LEAF_DAYS
) -> Issued:
    """Issue the partner's client certificate (from its CSR, or with a new key pair as the
    demo does) and write it, which pins it. The subject is the one the site names."""
    partner = _partner(site, partner_id)
    layout = layout_of(site)
    ca = load_ca(layout.partner_ca, "partner CA")
    try:
        public_key = csr_public_key(csr_pem) if csr_pem is not None else None
        subject = subject_name(partner.cert_subject)
    except ValueError as exc:
        raise PkiError(str(exc)) from None
    issued = issue(ca, subject, client=True, public_key=public_key, days=days)
    cert_path, key_path = layout.partner(partner_id)
    if public_key is not None:
        key_path.unlink(missing_ok=True)  # the partner holds its key; a stale one must go
    write_issued(issued, cert_path, key_path)
    return issued


def revoke_partner(site: Site, partner_id: str) -> int:
    """Add the partner's current certificate to the CRL; returns its serial number."""
    _partner(site, partner_id)
    layout = layout_of(site)
    cert_path, _ = layout.partner(partner_id)
    if not cert_path.exists():
        raise PkiError(f"no certificate for {partner_id} at {cert_path}")
    serial = load_issued(cert_path).cert.serial_number
    write_crl(load_ca(layout.partner_ca, "partner CA"), layout.partner_crl, (serial,))
    return serial


def rotate_partner(site: Site, partner_id: str, csr_pem: bytes | None = None) -> Issued:
    """Issue a new certificate, move the pin to it and revoke the old one."""
    layout = layout_of(site)
    cert_path, _ = layout.partner(partner_id)
    old = load_issued(cert_path).cert.serial_number if cert_path.exists() else None
    issued = issue_partner(site, partner_id, csr_pem)
    if old is not None:
        write_crl(load_ca(layout.partner_ca, "partner CA"), layout.partner_crl, (old,))
    return issued


def refresh_crls(site: Site) -> list[Path]:
    """Re-sign both CRLs (partner CA, hub CA) with a fresh nextUpdate, keeping every
    revocation; returns them. A server refuses every client once its CRL is past that."""
    layout = layout_of(site)
    signed = []
    for crl, pair in layout.crls():
        write_crl(load_ca(pair, f"CA for {crl.name}"), crl)
        signed.append(crl)
    return signed


def server_names(site: Site, name: str) -> tuple[str, ...]:
    """SANs for a hub server: its listen host and its host entry's address, plus localhost
    for the single-host embedded default. Wildcard listen addresses are not names."""
    names: list[str] = []
    listen = site.hub.listen.get(name)
    host = site.hub.host(name)
    for candidate in (listen.host if listen else None, host.address if host else None,
                      "localhost", "127.0.0.1"):
        if candidate and candidate not in names and not _wildcard(candidate):
            names.append(candidate)
    return tuple(names)


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def issue_hub(site: Site, name: str) -> Issued:
    """A hub server's certificate (server and client auth, CN = its name), from the hub CA."""
    layout = layout_of(site)
    ca = load_ca(layout.hub_ca, "hub CA")
    issued = issue(ca, name, server_names=server_names(site, name), client=True, server=True)
    write_issued(issued, *layout.hub(name))
    return issued


def issue_partner_server(site: Site, partner: Partner) -> Issued:
    """Demo only: the HTTPS certificate of a receive partner's simulator, named after the
    host in its endpoint URL, from the partner CA (which TXN trusts for partner servers)."""
    layout = layout_of(site)
    ca = load_ca(layout.partner_ca, "partner CA")
    host = urlsplit(partner.endpoint or "").hostname or "localhost"
    names = tuple(dict.fromkeys((host, "localhost", "127.0.0.1")))
    issued = issue(ca, f"{partner.id}-server", server_names=names, server=True)
    write_issued(issued, *layout.partner_server(partner.id))
    return issued
