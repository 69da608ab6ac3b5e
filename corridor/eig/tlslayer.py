"""The partner listener's TLS: client certificates required, the CRL reloaded without a
restart, and failed handshakes audited.

asyncio's server-side TLS hides handshake failures (they are logged at debug level, with
no peer address), so the listener wraps each accepted connection in its own
`SSLProtocol` subclass: it knows the peer address and the context in force when the
connection arrived. That is also how a new CRL takes effect: new connections get the
context built from the new file; connections already open keep theirs.

The peer certificate is read by the handshake itself. To audit a certificate that failed
verification (OpenSSL drops it), a TLS message callback keeps the first certificate of the
client's Certificate message on the connection's SSLObject.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from asyncio.sslproto import SSLProtocol
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from corridor.pki.issue import fingerprint
from corridor.pki.tls import server_context

log = logging.getLogger("corridor.eig.tls")

HANDSHAKE_TIMEOUT_S = 10.0

# OpenSSL verify results -> the reason written to the audit log.
_VERIFY_REASONS = {
    10: "certificate_expired",
    9: "certificate_not_yet_valid",
    23: "certificate_revoked",
    2: "unknown_ca",
    18: "unknown_ca",
    19: "unknown_ca",
    20: "unknown_ca",
    21: "unknown_ca",
    12: "crl_expired",
    3: "crl_unavailable",
}


@dataclass(frozen=True, slots=True)
class HandshakeFailure:
    source_ip: str | None
    reason: str
    detail: str
    subject: str | None
    fingerprint: str | None


def _first_certificate(version: object, data: bytes) -> bytes | None:
    """The leaf certificate (DER) of a TLS Certificate handshake message."""
    try:
        pos = 4  # handshake header: type and 24-bit length
        if version == ssl.TLSVersion.TLSv1_3:
            pos += 1 + data[pos]  # certificate_request_context
        pos += 3  # certificate_list length
        length = int.from_bytes(data[pos:pos + 3], "big")
        pos += 3
        der = data[pos:pos + length]
        return der if length and len(der) == length else None
    except IndexError:
        return None


_HANDSHAKE = 22  # TLS ContentType handshake
_CERTIFICATE = 11  # HandshakeType certificate


def _keep_peer_certificate(conn, direction, version, content_type, msg_type, data):  # type: ignore[no-untyped-def]
    if content_type == _HANDSHAKE and msg_type == _CERTIFICATE and direction == "read":
        conn.corridor_peer_der = _first_certificate(version, data)


def _watch_certificates(ctx: ssl.SSLContext) -> None:
    """Install `_keep_peer_certificate` as the context's TLS message callback, called with
    the plain numbers OpenSSL gives. OpenSSL calls it for every record header too, that is
    at least twice per request; `ssl.SSLContext._msg_callback` would first turn three of
    its arguments into enum members each time, which costs more than the check itself."""
    ssl_base = ssl.SSLContext.__mro__[1]  # _ssl._SSLContext, whose setter takes any callable
    ssl_base._msg_callback.__set__(ctx, _keep_peer_certificate)  # type: ignore[attr-defined]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _VERIFY_REASONS.get(exc.verify_code, "certificate_invalid")
    text = str(exc)
    if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in text:
        return "no_client_certificate"
    if "VERSION" in text or "PROTOCOL" in text:
        return "tls_version_refused"
    if "CIPHER" in text:
        return "no_shared_cipher"
    return "handshake_failed"


class ContextHolder:
    """The server SSLContext in force; rebuilt when the CRL file changes."""

    def __init__(self, cert: Path, key: Path, client_ca: Path, crl: Path) -> None:
        self.cert, self.key, self.client_ca, self.crl = cert, key, client_ca, crl
        self._stamp: tuple[int, int, int] | None = None
        self.current = self._build()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.crl)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _build(self) -> ssl.SSLContext:
        stamp = self._file_stamp()
        if stamp is None:
            # Without a CRL a revoked certificate would pass: refuse to start instead.
            raise FileNotFoundError(f"no CRL at {self.crl}; run `corridor pki bootstrap`")
        ctx = server_context(self.cert, self.key, client_ca=self.client_ca, crl=self.crl)
        _watch_certificates(ctx)
        self._stamp = stamp
        return ctx

    def refresh(self) -> bool:
        """Rebuild if the CRL changed; True when a new context is in force. A CRL that
        does not load leaves the previous context in force (and is logged)."""
        if self._file_stamp() == self._stamp:
            return False
        try:
            self.current = self._build()
        except (OSError, ssl.SSLError) as exc:
            log.error("CRL %s did not load, keeping the previous one: %s", self.crl, exc)
            return False
        log.info("CRL %s reloaded", self.crl)
        return True

    async def watch(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            self.refresh()


class AuditedTLS(SSLProtocol):
    """Server-side TLS for one connection that reports a failed handshake."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        app_protocol: asyncio.Protocol,
        context: ssl.SSLContext,
        on_failure: Callable[[HandshakeFailure], None],
    ) -> None:
        super().__init__(loop, app_protocol, context, None, server_side=True,
                         ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S)
        self._on_failure = on_failure

    def _on_handshake_complete(self, handshake_exc):  # type: ignore[no-untyped-def]
        if handshake_exc is not None:
            self._report(handshake_exc)
            # asyncio drops the connection without sending what OpenSSL queued: send the
            # TLS alert first, so the client learns why (unknown CA, expired, revoked...).
            with contextlib.suppress(Exception):
                self._process_outgoing()
        super()._on_handshake_complete(handshake_exc)

    def _report(self, exc: BaseException) -> None:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        der = getattr(self._sslobj, "corridor_peer_der", None)
        subject = print_ = None
        if der:
            try:
                subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
                print_ = fingerprint(der)
            except ValueError:
                pass
        detail = getattr(exc, "verify_message", None) or str(exc)
        try:
            self._on_failure(HandshakeFailure(
                peer[0] if peer else None, _reason(exc), detail, subject, print_))
        except Exception:  # auditing must never break the listener
            log.exception("could not audit a failed handshake")


async def listen(
    loop: asyncio.AbstractEventLoop,
    app_factory: Callable[[], asyncio.Protocol],
    contexts: ContextHolder,
    on_failure: Callable[[HandshakeFailure], None],
    host: str,
    port: int,
    reuse_port: bool = False,
) -> asyncio.Server:
    """A TCP listener whose connections speak TLS with the context in force on arrival."""

    def factory() -> asyncio.Protocol:
        return AuditedTLS(loop, app_factory(), contexts.current, on_failure)

    return await loop.create_server(factory, host, port, reuse_port=reuse_port, backlog=1024)
