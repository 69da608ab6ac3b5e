"""The site directory as typed, validated values. Built only by `corridor.site.loader`;
every other part reads partner and hub facts from here and nowhere else. The values the
domain reasons about (`Counterparty`, `Tariff`, `KycRule`, `SanctionsEntry`) are
`corridor.core`'s: the site holds them, the core never reads the site."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Literal

from corridor.core.compliance import KycRule, SanctionsEntry
from corridor.core.counterparty import Counterparty
from corridor.core.pricing import Tariff
from corridor.core.routing import Route

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Role = Literal["send", "receive", "both"]
ZONES = ("dmz", "core", "edge", "admin")


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    zone: str
    address: str
    ssh_port: int


@dataclass(frozen=True, slots=True)
class Lab:
    """Addresses of the lab (`corridor lab up`), where each host is a network namespace."""

    internet: tuple[ipaddress.IPv4Network, ...]  # holds hub.public_ip and every peer_ip
    segments: dict[str, ipaddress.IPv4Network]  # zone -> its segment; the vpn host routes
    addresses: dict[str, ipaddress.IPv4Address]  # hub host -> its address in its segment
    desk: ipaddress.IPv4Address  # an administrator's workstation in the admin segment
    stranger: ipaddress.IPv4Address  # a host on the internet that has no tunnel
    lines: dict[str, int] = field(default_factory=dict)  # key -> line in hub.yaml


@dataclass(frozen=True, slots=True)
class Hub:
    id: str
    name: str
    public_ip: str
    ike_id: str
    listen: dict[str, Listen]
    hosts: tuple[Host, ...]
    store_txn: str  # DSN: sqlite:///relative/or/absolute.db or postgresql://...
    store_rpt: str  # DuckDB file path
    tariff: Tariff  # quotes, FX and fees
    sanctions_threshold: int
    kyc: dict[str, KycRule]
    settlement_cutoff: time
    lab: Lab | None = None
    routes: tuple[Route, ...] = ()  # receive partners sharing a corridor and method

    def host(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)


@dataclass(frozen=True, slots=True)
class Tunnel:
    peer_ip: str
    peer_id: str
    partner_subnets: tuple[IPNetwork, ...]
    hub_subnets: tuple[IPNetwork, ...]
    auth: Literal["psk", "cert"]
    psk_file: Path | None  # absolute; None for certificate authentication
    ike: str  # Libreswan proposal syntax, e.g. "aes256-sha2_256;dh19"
    esp: str


@dataclass(frozen=True, slots=True)
class CallbackRetry:
    """A send partner's own sender-callback schedule (its file's `callback_retry`): the
    first pause, doubling up to `backoff_max_s`, for `retry_for_s` before it is parked."""

    backoff_s: float
    backoff_max_s: float
    retry_for_s: float


@dataclass(frozen=True, slots=True)
class Iso20022:
    """How a bank partner is known in ISO 20022 (its partner file's `iso20022` block)."""

    bic: str | None
    clearing_id: str | None
    clearing_system: str | None
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Partner(Counterparty):
    """A partner's file: the domain's `Counterparty` (id, country, currencies, payout
    methods, limits) and how the hub knows and reaches it."""

    name: str
    role: Role
    allowed_ips: tuple[IPNetwork, ...]
    cert_subject: str
    # SHA-256 (lowercase hex) of the DER of pki/partners/<id>.crt; "" until one is issued
    cert_pin_sha256: str
    # the pin of pki/partners/<id>.next.crt during a renewal's overlap, else ""
    cert_next_pin_sha256: str
    api_key_file: Path  # holds the key's hash, never the key
    callback_url: str | None
    callback_secret_file: Path | None
    endpoint: str | None
    connector: str | None
    float_floor: int | None  # minor units; send partners only
    tunnel: Tunnel | None
    disabled: bool
    # RFC 3339 time `corridor partner offboard` closed it (its file stays, for history)
    offboarded: str | None
    source: str  # the file it came from, relative to the site root
    lines: dict[str, int] = field(default_factory=dict)  # top-level field -> line in source
    callback_retry: CallbackRetry | None = None  # None: the hub's default schedule
    # ISO 20022 identity and versions: a receive partner with `connector: iso20022`, or a
    # send partner that sends pacs.008 and hears pacs.002 callbacks
    iso20022: Iso20022 | None = None

    def where(self, key: str) -> str:
        """`partners/x.yaml:12`: where a field was written, for messages about it."""
        return f"{self.source}:{self.lines.get(key, 1)}"

    @property
    def sends(self) -> bool:
        return self.role in ("send", "both")

    @property
    def receives(self) -> bool:
        return self.role in ("receive", "both")

    @property
    def currency(self) -> str:
        return self.currencies[0]


@dataclass(frozen=True, slots=True)
class AccessRole:
    name: str
    hosts: dict[str, tuple[int, ...]]  # host name -> ports


@dataclass(frozen=True, slots=True)
class Admin:
    name: str
    roles: tuple[str, ...]
    ssh_keys: tuple[str, ...]
    totp_file: Path | None
    disabled: bool = False
    login: str | None = None  # account the jump server logs into for brokered sessions


@dataclass(frozen=True, slots=True)
class Access:
    roles: dict[str, AccessRole] = field(default_factory=dict)
    admins: dict[str, Admin] = field(default_factory=dict)
    # Jump-server lock-out: this many failed logins from one source within the window
    # lock that source out for `lockout_seconds`.
    lockout_failures: int = 5
    lockout_window_seconds: int = 300
    lockout_seconds: int = 900


@dataclass(frozen=True, slots=True)
class Site:
    root: Path
    hub: Hub
    partners: dict[str, Partner]
    access: Access
    sanctions: tuple[SanctionsEntry, ...]

    def partner(self, partner_id: str) -> Partner | None:
        return self.partners.get(partner_id)

    def receive_partner_for(self, country: str, currency: str) -> Partner | None:
        """The receive partner that pays out in `country` and `currency` (routing): where
        several do, the first that a routing rule of hub.yaml names."""
        for route in self.hub.routes:
            if route.corridor.endswith(f"-{country}"):
                for pid in route.partners:
                    p = self.partners.get(pid)
                    if p is not None and not p.disabled and currency in p.currencies:
                        return p
        for p in self.partners.values():
            if p.receives and not p.disabled and p.country == country and currency in p.currencies:
                return p
        return None

    def route(self, corridor: str, method: str) -> Route | None:
        """hub.yaml's routing rule for a corridor and payout method, if it has one."""
        return next((r for r in self.hub.routes
                     if r.corridor == corridor and r.method == method), None)

    def path(self, ref: str) -> Path:
        return self.root / ref
