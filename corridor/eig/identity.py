"""Who is calling: one pure function over what the connection and the request present.

A request is served only when the client certificate is pinned to a partner, the source
address is in that same partner's allowlist and the API key is that same partner's. The
TLS layer has already checked chain, validity and revocation at the handshake; a
connection outlives both the CRL and the certificate's validity of that moment, so each
request on it is checked against them again (`certificate_refusal`). The pin then names
the partner, so a certificate alone never picks an identity the API key did not also
prove.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Set
from dataclasses import dataclass
from enum import Enum

from corridor.pki.credentials import hash_api_key
from corridor.site.model import IPNetwork, Partner


class Refusal(Enum):
    """Why a caller was turned away: (stable code, HTTP status)."""

    NO_CERTIFICATE = ("no_client_certificate", 401)
    CERTIFICATE_REVOKED = ("certificate_revoked", 403)
    CERTIFICATE_EXPIRED = ("certificate_expired", 403)
    NOT_PINNED = ("certificate_not_pinned", 403)
    PARTNER_DISABLED = ("partner_disabled", 403)
    IP_NOT_ALLOWED = ("source_ip_not_allowed", 403)
    KEY_MISSING = ("api_key_missing", 401)
    KEY_INVALID = ("api_key_invalid", 401)
    KEY_OTHER_PARTNER = ("api_key_wrong_partner", 403)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]


@dataclass(frozen=True, slots=True)
class Peer:
    """What a TLS connection presents, read once per connection (it cannot change within
    one): the client certificate (DER, SHA-256 fingerprint, serial number, notAfter in unix
    seconds) and the source address. Without a certificate all but the address are None."""

    fingerprint: str | None
    der: bytes | None
    serial: int | None
    not_after: float | None
    source_ip: str


@dataclass(frozen=True, slots=True)
class Caller:
    """What one request presents. `fingerprint` is the SHA-256 (hex) of the peer
    certificate as the TLS layer received it; `api_key` the bearer token, if any."""

    fingerprint: str | None
    source_ip: str
    api_key: str | None


@dataclass(frozen=True, slots=True)
class Directory:
    """The partners as the gateway looks them up, built from the site and key hashes."""

    by_pin: dict[str, Partner]
    key_hashes: dict[str, str]  # partner id -> "sha256:<hex>"
    key_owners: dict[str, str]  # "sha256:<hex>" -> partner id

    @classmethod
    def build(cls, partners: list[Partner], key_hashes: dict[str, str]) -> Directory:
        # During a renewal's overlap a partner has two pins: either certificate admits it.
        by_pin = {pin: p for p in partners
                  for pin in (p.cert_pin_sha256, p.cert_next_pin_sha256) if pin}
        owners = {h: pid for pid, h in key_hashes.items()}
        return cls(by_pin, dict(key_hashes), owners)

    def claimed(self, caller: Caller) -> str | None:
        """The partner the caller claims to be (by pin, else by key): for the audit log."""
        partner = self.by_pin.get(caller.fingerprint or "")
        if partner is not None:
            return partner.id
        if caller.api_key:
            return self.key_owners.get(hash_api_key(caller.api_key))
        return None


def _allowed(source_ip: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


def certificate_refusal(peer: Peer, revoked: Set[int], now: float) -> Refusal | None:
    """Whether the certificate a connection was admitted with no longer stands: revoked
    since (`revoked`: the serials of the CRL in force) or expired since (`now`: unix
    seconds). Cheap: it runs on every request."""
    if peer.serial in revoked:
        return Refusal.CERTIFICATE_REVOKED
    if peer.not_after is not None and now >= peer.not_after:
        return Refusal.CERTIFICATE_EXPIRED
    return None


def identify(directory: Directory, caller: Caller) -> Partner | Refusal:
    """The partner this request is from, or the reason it is refused."""
    if not caller.fingerprint:
        return Refusal.NO_CERTIFICATE
    partner = directory.by_pin.get(caller.fingerprint)
    if partner is None:
        return Refusal.NOT_PINNED
    if partner.disabled:
        return Refusal.PARTNER_DISABLED
    if not _allowed(caller.source_ip, partner.allowed_ips):
        return Refusal.IP_NOT_ALLOWED
    if not caller.api_key:
        return Refusal.KEY_MISSING
    presented = hash_api_key(caller.api_key)
    expected = directory.key_hashes.get(partner.id, "")
    if hmac.compare_digest(presented.encode(), expected.encode()):
        return partner
    if presented in directory.key_owners:
        return Refusal.KEY_OTHER_PARTNER
    return Refusal.KEY_INVALID
