"""Operators' client certificates for the dashboard: issued by the hub CA with
CN=operator-<name>, kept under the site's pki/operators/ (key and PKCS#12 bundle 0600), the
bundle for importing into a browser. Operators reach RPT's listener through the jump
server; the certificate is what RPT checks, against the hub CA's CRL, where
`revoke_operator` puts it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

from corridor.core.errors import InvalidInput, NotFound
from corridor.pki.crl import write_crl
from corridor.pki.issue import Issued, issue, load_issued, write_issued
from corridor.pki.layout import Layout

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"operator name {name[:40]!r} must be lowercase letters, digits, -",
                           code="invalid_name")
    return name


def _hub_ca(layout: Layout) -> Issued:
    cert, key = layout.hub_ca
    if not key.exists():
        raise InvalidInput("no hub CA in pki/: run `corridor pki bootstrap` first",
                           code="no_hub_ca")
    return load_issued(cert, key)


def issue_operator(site_root: Path, name: str, days: int = 90) -> tuple[Path, Path, Path]:
    layout = Layout(site_root)
    _checked(name)
    ca = _hub_ca(layout)
    leaf = issue(ca, f"operator-{name}", client=True, days=days)
    crt, key, p12 = layout.operator(name)
    write_issued(leaf, crt, key)
    bundle = pkcs12.serialize_key_and_certificates(
        f"operator-{name}".encode(), leaf.key, leaf.cert, [ca.cert], NoEncryption()
    )
    fd = os.open(p12, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(bundle)
    return crt, key, p12


def revoke_operator(site_root: Path, name: str) -> int:
    """Add the operator's current certificate to the hub CA's CRL (creating the CRL on a
    site that has none yet); returns its serial number."""
    layout = Layout(site_root)
    crt = layout.operator(_checked(name))[0]
    if not crt.exists():
        raise NotFound(f"no operator certificate at {crt}", code="unknown_operator")
    serial = load_issued(crt).cert.serial_number
    write_crl(_hub_ca(layout), layout.hub_crl, (serial,))
    return serial
