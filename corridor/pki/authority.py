"""What the hub's operators do with the PKI: issue, rotate and revoke a partner's client
certificate, and issue the hub servers' certificates. A partner's pin is the fingerprint
of the certificate written to pki/partners/<id>.crt (the site loader reads it there), so
writing the certificate moves the pin. Functions take the loaded `Site`; the CLI is a thin
shell over them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from corridor.pki.crl import write_crl
from corridor.pki.files import write_atomic
from corridor.pki.issue import (
    Issued,
    create_ca,
    csr_public_key,
    issue,
    load_issued,
    subject_name,
    write_issued,
)
from corridor.pki.layout import HUB_SERVERS, Layout
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
    public_key, subject = _key_and_subject(partner, csr_pem)
    issued = issue(ca, subject, client=True, public_key=public_key, days=days)
    cert_path, key_path = layout.partner(partner_id)
    if public_key is not None:
        key_path.unlink(missing_ok=True)  # the partner holds its key; a stale one must go
    write_issued(issued, cert_path, key_path)
    return issued


def revoke_partner(site: Site, partner_id: str) -> int:
    """Add the partner's current certificate to the CRL; returns its serial number. A
    renewed certificate waiting in its overlap is revoked with it and its files removed:
    a revoked partner keeps no way in."""
    _partner(site, partner_id)
    layout = layout_of(site)
    cert_path, _ = layout.partner(partner_id)
    if not cert_path.exists():
        raise PkiError(f"no certificate for {partner_id} at {cert_path}")
    serial = load_issued(cert_path).cert.serial_number
    serials = [serial]
    next_cert, next_key = layout.partner_next(partner_id)
    if next_cert.exists():
        serials.append(load_issued(next_cert).cert.serial_number)
    write_crl(load_ca(layout.partner_ca, "partner CA"), layout.partner_crl, tuple(serials))
    for path in (next_cert, next_key, layout.partner_overlap_ends(partner_id)):
        path.unlink(missing_ok=True)
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


def renew_partner(site: Site, partner_id: str, csr_pem: bytes | None, overlap: dt.timedelta,
                  days: int = LEAF_DAYS, now: dt.datetime | None = None
                  ) -> tuple[Issued, dt.datetime]:
    """Issue the partner's renewed certificate beside its current one
    (pki/partners/<id>.next.crt): both are pinned until the overlap ends, so the partner
    switches when it is ready. `close_overlaps` (run by `pki renew`) then makes the new one
    the partner's certificate and revokes the old. Returns the certificate and the end of
    the overlap."""
    partner = _partner(site, partner_id)
    layout = layout_of(site)
    current, _ = layout.partner(partner_id)
    if not current.exists():
        raise PkiError(f"{partner_id} has no certificate to renew; use `corridor pki issue`")
    next_cert, next_key = layout.partner_next(partner_id)
    ends_file = layout.partner_overlap_ends(partner_id)
    if next_cert.exists():
        raise PkiError(f"{partner_id} already has a renewed certificate waiting ({next_cert}, "
                       f"overlap until {_read_ends(ends_file) or '?'})")
    ca = load_ca(layout.partner_ca, "partner CA")
    public_key, subject = _key_and_subject(partner, csr_pem)
    now = now or dt.datetime.now(dt.UTC)
    ends = now + overlap
    issued = issue(ca, subject, client=True, public_key=public_key, days=days, now=now)
    # The deadline first: a next certificate never lacks the end of its overlap.
    write_atomic(ends_file, ends.isoformat(timespec="seconds").encode())
    write_issued(issued, next_cert, next_key)
    return issued, ends


def _read_ends(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(path.read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError:
        raise PkiError(f"{path} is not an RFC 3339 time") from None


def overlap_ends(site_root: Path, partner_id: str) -> dt.datetime | None:
    """The end of the partner's renewal overlap, None when no renewal is waiting."""
    layout = Layout(site_root)
    if not layout.partner_next(partner_id)[0].exists():
        return None
    return _read_ends(layout.partner_overlap_ends(partner_id))


def close_overlaps(site: Site, now: dt.datetime | None = None) -> list[tuple[str, int]]:
    """Close every renewal overlap that has ended: the next certificate becomes the
    partner's certificate (the only pin) and the old one is revoked. Returns
    (partner id, revoked serial) for each. The window is a date, not "once the partner
    has called with the new certificate": a partner that never switches is still cut over,
    and `pki watch` shows the overlap before it closes."""
    now = now or dt.datetime.now(dt.UTC)
    layout = layout_of(site)
    closed = []
    for partner_id in sorted(site.partners):
        ends = overlap_ends(site.root, partner_id)
        if ends is None or ends > now:
            continue
        current, current_key = layout.partner(partner_id)
        next_cert, next_key = layout.partner_next(partner_id)
        old = load_issued(current).cert.serial_number if current.exists() else None
        if next_key.exists():
            os.replace(next_key, current_key)
        else:
            current_key.unlink(missing_ok=True)  # the partner holds its key
        os.replace(next_cert, current)  # the pin moves in one step
        layout.partner_overlap_ends(partner_id).unlink()
        if old is not None:
            write_crl(load_ca(layout.partner_ca, "partner CA"), layout.partner_crl, (old,))
            closed.append((partner_id, old))
    return closed


def renew_hub(site: Site, within: dt.timedelta, now: dt.datetime | None = None
              ) -> dict[str, Issued]:
    """Re-issue each hub server certificate (eig, txn, rpt) that expires within `within`.
    The servers pick the new one up for their next connections without a restart."""
    now = now or dt.datetime.now(dt.UTC)
    layout = layout_of(site)
    renewed = {}
    for name in HUB_SERVERS:
        cert, _ = layout.hub(name)
        if cert.exists() and load_issued(cert).cert.not_valid_after_utc - now > within:
            continue
        renewed[name] = issue_hub(site, name)
    return renewed


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


def _key_and_subject(partner: Partner, csr_pem: bytes | None,
                     ) -> tuple[ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None, x509.Name]:
    """The public key of the partner's CSR (None: a new key pair) and the subject its site
    file names; a CSR or subject that does not parse is a `PkiError`."""
    try:
        public_key = csr_public_key(csr_pem) if csr_pem is not None else None
        return public_key, subject_name(partner.cert_subject)
    except ValueError as exc:
        raise PkiError(str(exc)) from None
