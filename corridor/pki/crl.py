"""The CAs' certificate revocation lists: the partner CA's, which EIG checks, and the hub
CA's (operators' certificates), which RPT checks. The servers check a CRL during the
handshake and per request on connections already open, and reload it when the file
changes (`corridor.pki.tls.ContextHolder`); `revoke` re-signs it atomically."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from corridor.pki.files import write_atomic
from corridor.pki.issue import Issued

# A CRL past its nextUpdate makes OpenSSL refuse every client: `corridor pki watch` reports
# it like an expiring certificate (so this is longer than its default 30-day window), and
# any `pki revoke` or `pki crl` re-signs it.
CRL_DAYS = 90


def load_crl(path: Path) -> x509.CertificateRevocationList | None:
    if not path.exists():
        return None
    return x509.load_pem_x509_crl(path.read_bytes())


def write_crl(
    ca: Issued, path: Path, add_serials: tuple[int, ...] = (), now: dt.datetime | None = None
) -> x509.CertificateRevocationList:
    """(Re)sign the CRL at `path`, keeping what it already revokes and adding `add_serials`."""
    assert ca.key is not None
    now = now or dt.datetime.now(dt.UTC)
    old = load_crl(path)
    revoked: dict[int, x509.RevokedCertificate] = {}
    for entry in old or ():
        revoked[entry.serial_number] = entry
    for serial in add_serials:
        if serial not in revoked:
            revoked[serial] = (
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now)
                .build()
            )
    number = 1
    if old is not None:
        try:
            ext = old.extensions.get_extension_for_class(x509.CRLNumber)
            number = ext.value.crl_number + 1
        except x509.ExtensionNotFound:
            pass
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        # A second back, so a CRL written twice within one second still sorts as newer.
        .last_update(now - dt.timedelta(seconds=1))
        .next_update(now + dt.timedelta(days=CRL_DAYS))
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for entry in revoked.values():
        builder = builder.add_revoked_certificate(entry)
    crl = builder.sign(ca.key, hashes.SHA256())
    write_atomic(path, crl.public_bytes(serialization.Encoding.PEM))
    return crl


def revoked_serials(path: Path, issuer: Path) -> frozenset[int]:
    """The serial numbers the CRL at `path` revokes, once its signature checks against the
    CA certificate at `issuer` (the same check OpenSSL makes at each handshake)."""
    crl = x509.load_pem_x509_crl(path.read_bytes())
    ca = x509.load_pem_x509_certificate(issuer.read_bytes())
    if not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]  # the hub CA's key is always one that signs CRLs
        raise ValueError(f"{path} is not signed by {issuer}")
    return frozenset(entry.serial_number for entry in crl)


def is_revoked(path: Path, serial: int) -> bool:
    crl = load_crl(path)
    return crl is not None and crl.get_revoked_certificate_by_serial_number(serial) is not None
