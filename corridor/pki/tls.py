"""The hub's TLS contexts, one builder per role, every path taken from the site's
`Layout`: TLS 1.2+ with modern AEAD ciphers only, client certificates required where a
server says so, and the listeners that follow a CRL kept in step with it.

    hub_server(layout, name)            a hub server for the hub's own clients (TXN)
    hub_listener(layout, name)          the same, following the hub CA's CRL (RPT)
    partner_listener(layout, prepare)   EIG's partner port: partner CA and its CRL
    hub_client(layout, name)            a hub server calling another (EIG -> TXN, RPT -> TXN)
    hub_client_to_partner(layout, name) a hub server calling partners' servers (TXN)
    partner_client(layout, partner_id)  a partner calling EIG (the simulators)
    partner_server(layout, partner_id)  a partner's HTTPS server (the simulators)

A builder whose files are missing raises `MissingCredentials`, which names the file."""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from corridor.filestamp import Stamp, stamp
from corridor.pki.crl import revoked_serials
from corridor.pki.layout import Layout

log = logging.getLogger("corridor.pki.tls")

# ECDHE with AES-GCM or ChaCha20 for TLS 1.2; TLS 1.3 suites are modern by construction.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS:!SHA1"


class MissingCredentials(FileNotFoundError):
    """A certificate, key or CRL a context needs is not where the layout puts it."""

    def __init__(self, path: Path, layout: Layout) -> None:
        super().__init__(f"{path} is missing; run `corridor pki bootstrap --site {layout.root}`")
        self.path = path


def _need(layout: Layout, *paths: Path) -> None:
    for path in paths:
        if not path.exists():
            raise MissingCredentials(path, layout)


def _server(cert: Path, key: Path, client_ca: Path, crl: Path | None = None
            ) -> ssl.SSLContext:
    """A server context requiring a client certificate chained to `client_ca`; with `crl`
    revoked client certificates are refused during the handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_ca)
    if crl is not None:
        ctx.load_verify_locations(crl)
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def _client(ca: Path, cert: Path, key: Path,
            kind: type[ssl.SSLContext] = ssl.SSLContext) -> ssl.SSLContext:
    """A client context that verifies the server (name included) against `ca` and
    presents `cert`."""
    ctx = kind(ssl.PROTOCOL_TLS_CLIENT)  # verify_mode CERT_REQUIRED, check_hostname on
    ctx.load_verify_locations(ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.load_cert_chain(cert, key)
    return ctx


def hub_server(layout: Layout, name: str) -> ssl.SSLContext:
    """Hub server `name` (pki/hub/<name>) for the hub's own clients: their certificates
    must chain to the hub CA. No CRL: only the hub's servers hold such certificates."""
    cert, key = layout.hub(name)
    _need(layout, cert, key, layout.hub_ca[0])
    return _server(cert, key, layout.hub_ca[0])


def hub_listener(layout: Layout, name: str, *, revocations: bool = True) -> ContextHolder:
    """Hub server `name` for the hub's clients (and operators), following its certificate
    on disk (a renewal reaches new connections without a restart) and, with
    `revocations`, the hub CA's CRL. TXN goes without: its only clients are the hub's own
    servers. A site bootstrapped before that CRL existed has none: the server then
    refuses no certificate (and logs it) until `corridor pki bootstrap` or `corridor rpt
    operator-revoke` writes it, and loads it then."""
    cert, key = layout.hub(name)
    _need(layout, cert, key, layout.hub_ca[0])
    return ContextHolder(layout, cert, key, layout.hub_ca[0],
                         layout.hub_crl if revocations else None, crl_required=False)


def partner_listener(layout: Layout,
                     prepare: Callable[[ssl.SSLContext], None] | None = None) -> ContextHolder:
    """EIG's partner port: EIG's certificate, partners' certificates chained to the partner
    CA and checked against its CRL, which must exist. `prepare` adjusts every context built
    (EIG installs its handshake audit)."""
    cert, key = layout.hub("eig")
    _need(layout, cert, key, layout.partner_ca[0])
    return ContextHolder(layout, cert, key, layout.partner_ca[0], layout.partner_crl,
                         prepare=prepare)


def hub_client(layout: Layout, name: str) -> ssl.SSLContext:
    """Hub server `name` calling another hub server: its pki/hub/<name> certificate, and
    the other's certificate chained to the hub CA. Each new connection presents the
    certificate on disk then, so a renewed one is used without a restart."""
    cert, key = layout.hub(name)
    _need(layout, layout.hub_ca[0], cert, key)
    return following_client_context(layout.hub_ca[0], cert, key)


def hub_client_to_partner(layout: Layout, name: str = "txn") -> ssl.SSLContext:
    """Hub server `name` calling a partner's server (payouts, sender callbacks, the
    simulators' control API): its hub certificate, and trust in the partner CA, which
    issues the partners' server certificates in the demo."""
    cert, key = layout.hub(name)
    _need(layout, layout.partner_ca[0], cert, key)
    return _client(layout.partner_ca[0], cert, key)


def partner_client(layout: Layout, partner_id: str) -> ssl.SSLContext:
    """A partner calling EIG: its client certificate; EIG's certificate chains to the
    hub CA."""
    cert, key = layout.partner(partner_id)
    _need(layout, layout.hub_ca[0], cert, key)
    return _client(layout.hub_ca[0], cert, key)


def partner_server(layout: Layout, partner_id: str,
                   client_certs: Literal["required", "optional"] = "required") -> ssl.SSLContext:
    """A partner's HTTPS server (its `<id>-server` certificate); the hub's clients (hub CA)
    are `required` to present a certificate, or verified when they do (`optional`)."""
    cert, key = layout.partner_server(partner_id)
    _need(layout, cert, key, layout.hub_ca[0])
    ctx = _server(cert, key, layout.hub_ca[0])
    if client_certs == "optional":
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


class ContextHolder:
    """A server's context in force, rebuilt when its CRL, its certificate or its key
    changes (`corridor pki renew` re-issues the certificate in place), and the serial
    numbers that CRL revokes. A new context reaches only new connections: one opened
    before keeps the certificate and the CRL of its day, so the server checks `revoked` on
    each of its requests (a set lookup).

    `prepare` adjusts each context built (EIG installs its handshake audit). With `crl`
    None no CRL is checked (TXN: its clients are the hub's own servers). Without the
    CRL at start the holder refuses to start when `crl_required`; otherwise it serves
    without revocations, logged, until the file appears. Files that later do not load
    (a CRL gone or corrupt, a certificate caught before its key) leave the previous context
    in force, logged; the next change is tried again."""

    def __init__(self, layout: Layout, cert: Path, key: Path, client_ca: Path, crl: Path | None, *,
                 crl_required: bool = True,
                 prepare: Callable[[ssl.SSLContext], None] | None = None) -> None:
        self.cert, self.key, self.client_ca, self.crl = cert, key, client_ca, crl
        self.prepare = prepare
        self._stamps = self._read_stamps()
        if self._stamps[0] is None and crl is not None:
            if crl_required:
                # Without a CRL a revoked certificate would pass: refuse to start instead.
                raise MissingCredentials(crl, layout)
            log.warning("no CRL at %s: no certificate counts as revoked until it appears", crl)
        self._crl_seen = self._stamps[0] is not None
        self.current, self.revoked = self._build(with_crl=self._crl_seen)

    def _read_stamps(self) -> tuple[Stamp | None, ...]:
        crl = stamp(self.crl) if self.crl is not None else None
        return (crl, stamp(self.cert), stamp(self.key))

    def _build(self, with_crl: bool) -> tuple[ssl.SSLContext, frozenset[int]]:
        crl = self.crl if with_crl else None
        revoked = revoked_serials(crl, self.client_ca) if crl is not None else frozenset()
        ctx = _server(self.cert, self.key, self.client_ca, crl)
        if self.prepare is not None:
            self.prepare(ctx)
        return ctx, revoked

    def refresh(self) -> bool:
        """Rebuild if the CRL, the certificate or the key changed; True when a new
        context is in force."""
        stamps = self._read_stamps()
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        try:
            if stamps[0] is None and self._crl_seen:
                raise FileNotFoundError(f"the CRL {self.crl} is gone")
            self.current, self.revoked = self._build(with_crl=stamps[0] is not None)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            log.error("TLS files of %s did not load, keeping the previous context: %s",
                      self.cert.name, exc)
            return False
        self._crl_seen = self._crl_seen or stamps[0] is not None
        log.info("TLS context rebuilt for %s: %d certificate(s) revoked", self.cert.name,
                 len(self.revoked))
        return True

    async def watch(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            self.refresh()

    def following(self) -> ssl.SSLContext:
        """One context for a server that takes a single context for its lifetime
        (aiohttp's TCPSite): each new connection gets the context in force on arrival."""
        ctx = _Following(ssl.PROTOCOL_TLS_SERVER)
        ctx.holder = self
        return ctx


class _Following(ssl.SSLContext):
    """Hands each new connection to the holder's context in force. Both event loops
    (asyncio's and uvloop's) start every TLS connection with `context.wrap_bio(...)`: the
    one point where a server given a fixed context can pick another per connection.
    tests/rpt/test_revocation.py fails if a loop stops calling it."""

    holder: ContextHolder

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        return self.holder.current.wrap_bio(*args, **kwargs)


def following_client_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """A client context for a pool that keeps one context for its lifetime (EIG->TXN,
    RPT->TXN): each new connection presents the certificate on disk at that moment, so a
    renewed certificate is used without a restart. Connections already open keep theirs."""
    # Set up like the contexts it hands connections to, so that what a caller reads of
    # it (verify mode, ciphers, versions) is what its connections get.
    ctx = _client(ca, cert, key, _FollowingClient)
    assert isinstance(ctx, _FollowingClient)
    ctx.files = (ca, cert, key)
    ctx.stamps = (stamp(cert), stamp(key))
    ctx.current = _client(ca, cert, key)
    return ctx


class _FollowingClient(ssl.SSLContext):
    """Rebuilds on the first new connection after the certificate or key changed (two
    stats per new connection; a pool opens few). Files that do not load, such as a
    certificate caught before its key, leave the previous context in force."""

    files: tuple[Path, Path, Path]
    stamps: tuple[Stamp | None, ...]
    current: ssl.SSLContext

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        ca, cert, key = self.files
        stamps = (stamp(cert), stamp(key))
        if stamps != self.stamps:
            try:
                self.current = _client(ca, cert, key)
                self.stamps = stamps
                log.info("client certificate %s reloaded", cert.name)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                log.warning("client certificate %s did not load, keeping the previous one: "
                            "%s", cert.name, exc)
        return self.current.wrap_bio(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The verified client certificate of a TLS connection, as a server checks it."""

    common_name: str | None
    serial: int
    not_after: float  # unix seconds


# The peer certificate per TLS connection: it cannot change within a connection, and
# decoding it for every request cost more than the rest of the check.
_PEERS: weakref.WeakKeyDictionary[object, PeerCertificate | None] = weakref.WeakKeyDictionary()


def peer_certificate(transport: Any) -> PeerCertificate | None:
    """The verified client certificate on this transport, read from the TLS connection
    itself (never from a header); None over plain TCP or without one."""
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    if sslobj is None:
        return None
    try:
        return _PEERS[sslobj]
    except KeyError:
        pass
    info = sslobj.getpeercert() or {}
    cert = None
    if info:
        name = None
        for rdn in info.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    name = str(value)
        cert = PeerCertificate(name, int(info["serialNumber"], 16),
                               float(ssl.cert_time_to_seconds(info["notAfter"])))
    _PEERS[sslobj] = cert
    return cert


def peer_common_name(transport: Any) -> str | None:
    """The common name of the verified client certificate on this transport."""
    cert = peer_certificate(transport)
    return cert.common_name if cert is not None else None
