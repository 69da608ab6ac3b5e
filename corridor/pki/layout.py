"""Where key material lives inside a site directory. Every part that reads or writes a
certificate, a key or a partner secret asks this module for the path, so the layout is
written down once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The hub's own servers; each holds one certificate that is both its server certificate
# and its client certificate towards the next hop (CN = the name).
HUB_SERVERS = ("eig", "txn", "rpt")


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path  # the site directory

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def hub_ca(self) -> tuple[Path, Path]:
        return self.pki / "hub-ca.crt", self.pki / "hub-ca.key"

    @property
    def partner_ca(self) -> tuple[Path, Path]:
        return self.pki / "partner-ca.crt", self.pki / "partner-ca.key"

    @property
    def partner_crl(self) -> Path:
        return self.pki / "partner-ca.crl"

    @property
    def hub_crl(self) -> Path:
        """The hub CA's CRL: operators' certificates revoked (RPT checks it)."""
        return self.pki / "hub-ca.crl"

    def crls(self) -> tuple[tuple[Path, tuple[Path, Path]], ...]:
        """Each CRL with the CA (certificate, key) that signs it."""
        return (self.partner_crl, self.partner_ca), (self.hub_crl, self.hub_ca)

    def hub(self, name: str) -> tuple[Path, Path]:
        """A hub server's certificate and key (pki/hub/<name>.crt|key)."""
        return self.pki / "hub" / f"{name}.crt", self.pki / "hub" / f"{name}.key"

    def partner(self, partner_id: str) -> tuple[Path, Path]:
        """A partner's client certificate and, when the hub generated it, its key."""
        folder = self.pki / "partners"
        return folder / f"{partner_id}.crt", folder / f"{partner_id}.key"

    def partner_next(self, partner_id: str) -> tuple[Path, Path]:
        """The partner's renewed certificate (and key, when the hub made it) during its
        overlap: pinned beside the current one until `partner_overlap_ends` has passed."""
        folder = self.pki / "partners"
        return folder / f"{partner_id}.next.crt", folder / f"{partner_id}.next.key"

    def partner_overlap_ends(self, partner_id: str) -> Path:
        """When the overlap of a partner's renewal closes (one RFC 3339 time)."""
        return self.pki / "partners" / f"{partner_id}.overlap-ends"

    def partner_server(self, partner_id: str) -> tuple[Path, Path]:
        """Demo only: the partner simulator's HTTPS server certificate and key."""
        return self.partner(f"{partner_id}-server")

    def operator(self, name: str) -> tuple[Path, Path, Path]:
        """An operator's client certificate, key and PKCS#12 bundle (for a browser)."""
        folder = self.pki / "operators"
        return folder / f"{name}.crt", folder / f"{name}.key", folder / f"{name}.p12"

    @property
    def demo_keys(self) -> Path:
        """The demo partners' API keys in clear (0600), written by `pki bootstrap` only."""
        return self.secrets / "demo-keys.json"

    def certificates(self) -> list[Path]:
        """Every certificate file of the site, CAs first (operators' too: the dashboard's
        and Prometheus's client certificates expire like the rest)."""
        found = sorted(self.pki.glob("*.crt"))
        for sub in ("hub", "partners", "operators"):
            found += sorted((self.pki / sub).glob("*.crt"))
        return found
