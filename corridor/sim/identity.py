"""What a simulated partner holds: its certificates, its callback secret and its API key,
found where `corridor pki bootstrap` puts them (`corridor.pki.layout`).

The simulators play the partner's side, so they read the partner's private material from
the demo site; a real partner keeps it on its own machines.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from corridor.pki.credentials import read_hmac_secret
from corridor.pki.issue import issue, load_issued, write_issued
from corridor.pki.layout import Layout
from corridor.pki.tls import MissingCredentials, partner_client, partner_server
from corridor.site.model import Partner, Site


class SimError(Exception):
    """A simulator cannot start or run as asked (missing partner, key, certificate...)."""


def read_signing_secret(path: Path | None) -> bytes:
    """The callback HMAC secret as `corridor.core.signature` takes it: the bytes the file
    holds in hex (as TXN reads them), so both ends of every signed request agree."""
    if path is None:
        raise SimError("the partner has no callback_secret in its site file")
    try:
        return read_hmac_secret(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SimError(f"cannot read the callback secret {path}: {exc}") from None


@dataclass(frozen=True, slots=True)
class PartnerIdentity:
    """One partner's key material inside a site directory."""

    site: Site
    partner: Partner

    @classmethod
    def of(cls, site: Site, partner_id: str, role: str) -> PartnerIdentity:
        partner = site.partner(partner_id)
        if partner is None:
            known = ", ".join(sorted(site.partners)) or "none"
            raise SimError(f"no partner {partner_id!r} in {site.root}/partners (known: {known})")
        if role == "receive" and not partner.receives:
            raise SimError(f"partner {partner_id!r} does not receive (role: {partner.role})")
        if role == "send" and not partner.sends:
            raise SimError(f"partner {partner_id!r} does not send (role: {partner.role})")
        return cls(site, partner)

    @property
    def layout(self) -> Layout:
        return Layout(self.site.root)

    @property
    def secret(self) -> bytes:
        return read_signing_secret(self.partner.callback_secret_file)

    def _need(self, *paths: Path) -> None:
        for path in paths:
            if not path.exists():
                raise SimError(
                    f"missing {path}; run `corridor pki bootstrap --site {self.site.root}`"
                )

    def server_tls(self, client_certs: Literal["required", "optional"] = "required"
                   ) -> ssl.SSLContext:
        """The partner's HTTPS server context (`corridor.pki.tls.partner_server`)."""
        try:
            return partner_server(self.layout, self.partner.id, client_certs)
        except MissingCredentials as exc:
            raise SimError(str(exc)) from None

    def client_tls(self) -> ssl.SSLContext:
        """The partner's client context towards EIG (`corridor.pki.tls.partner_client`)."""
        try:
            return partner_client(self.layout, self.partner.id)
        except MissingCredentials as exc:
            raise SimError(str(exc)) from None

    def api_key(self, key: str | None = None, key_file: Path | None = None) -> str:
        """The partner's API key: given, read from a file, or from the demo's key list."""
        if key:
            return key.strip()
        if key_file is not None:
            try:
                return key_file.read_text("utf-8").strip()
            except OSError as exc:
                raise SimError(f"cannot read API key file {key_file}: {exc}") from None
        demo = self.layout.demo_keys
        if demo.exists():
            keys = json.loads(demo.read_text("utf-8"))
            if self.partner.id in keys:
                return str(keys[self.partner.id])
        raise SimError(
            f"no API key for {self.partner.id}: pass --api-key-file, or run "
            "`corridor pki bootstrap` to create the demo keys"
        )

    def ensure_server_certificate(self) -> None:
        """Give the partner's simulator an HTTPS certificate from the partner CA when the
        site lacks one (bootstrap makes them for receive partners; a send partner needs one
        for its callback server), named after the host of its callback URL or endpoint."""
        cert, key = self.layout.partner_server(self.partner.id)
        if cert.exists() and key.exists():
            return
        ca_pair = self.layout.partner_ca
        self._need(*ca_pair)
        ca = load_issued(*ca_pair)
        url = self.partner.callback_url if self.partner.sends else self.partner.endpoint
        host = urlsplit(url or "").hostname or "localhost"
        names = tuple(dict.fromkeys((host, "localhost", "127.0.0.1")))
        write_issued(issue(ca, f"{self.partner.id}-server", server_names=names, server=True),
                     cert, key)


def loopback_source(partner: Partner) -> str | None:
    """The loopback address a simulated partner connects from: the first loopback address in
    its allowlist (the demo gives each partner its own, 127.0.0.x), so that EIG's source-IP
    check sees the partner where the site says it is. None when it lists no loopback."""
    for net in partner.allowed_ips:
        if net.is_loopback:
            return str(net.network_address if net.num_addresses == 1 else net[1])
    return None


def host_port(url: str | None, default_port: int = 443) -> tuple[str, int]:
    parts = urlsplit(url or "")
    return parts.hostname or "127.0.0.1", parts.port or default_port
