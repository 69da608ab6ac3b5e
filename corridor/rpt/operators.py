"""Operators' client certificates for the dashboard: issued by the hub CA with
CN=operator-<name>, kept under the site's pki/operators/ (key and PKCS#12 bundle 0600), the
bundle for importing into a browser. Operators reach RPT's listener through the jump
server; the certificate is what RPT checks."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

from corridor.core.errors import InvalidInput
from corridor.pki.issue import issue, load_issued, write_issued

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def issue_operator(site_root: Path, name: str, days: int = 90) -> tuple[Path, Path, Path]:
    if not _NAME.match(name):
        raise InvalidInput(f"operator name {name[:40]!r} must be lowercase letters, digits, -",
                           code="invalid_name")
    pki = site_root / "pki"
    if not (pki / "hub-ca.key").exists():
        raise InvalidInput("no hub CA in pki/: run `corridor pki bootstrap` first",
                           code="no_hub_ca")
    ca = load_issued(pki / "hub-ca.crt", pki / "hub-ca.key")
    leaf = issue(ca, f"operator-{name}", client=True, days=days)
    folder = pki / "operators"
    folder.mkdir(parents=True, exist_ok=True)
    crt, key, p12 = (folder / f"{name}.crt", folder / f"{name}.key", folder / f"{name}.p12")
    write_issued(leaf, crt, key)
    bundle = pkcs12.serialize_key_and_certificates(
        f"operator-{name}".encode(), leaf.key, leaf.cert, [ca.cert], NoEncryption()
    )
    fd = os.open(p12, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(bundle)
    return crt, key, p12
