"""The partner listener's TLS: client certificates required, the CRL reloaded without a
restart (`corridor.pki.tls.ContextHolder`), and failed handshakes audited.

TLS runs in the event loop's native code (uvloop's `SSLProtocol`), which hides handshake
failures: no log line, no peer address, and the connection dropped without the alert
OpenSSL queued for the client. So the listener accepts each connection itself and hands it
over with `loop.connect_accepted_socket`, in a task that knows the peer address and picks
the context in force when the connection arrived (that is how a new CRL takes effect: new
connections get the context built from the new file; on connections already open the
gateway checks each request against the serials it revokes). The connection's `SSLObject`
is an `AuditedSSLObject`, whose handshake step reports a failure to that task's arrival
record and lets the loop send the alert first.

The peer certificate is read by the handshake itself. To audit a certificate that failed
verification (OpenSSL drops it), a TLS message callback keeps the first certificate of the
client's Certificate message on the connection's SSLObject.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from corridor.pki.issue import fingerprint
from corridor.pki.tls import ContextHolder

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


def _keep_peer_certificate(conn, direction, version, content_type, msg_type, data):  # type: ignore[no-untyped-def]  # CPython's private _ssl message callback
    if content_type == _HANDSHAKE and msg_type == _CERTIFICATE and direction == "read":
        conn.corridor_peer_der = _first_certificate(version, data)


def _watch_certificates(ctx: ssl.SSLContext) -> None:
    """Install `_keep_peer_certificate` as the context's TLS message callback, called with
    the plain numbers OpenSSL gives. OpenSSL calls it for every record header too, that is
    at least twice per request; `ssl.SSLContext._msg_callback` would first turn three of
    its arguments into enum members each time, which costs more than the check itself."""
    ssl_base = ssl.SSLContext.__mro__[1]  # _ssl._SSLContext, whose setter takes any callable
    ssl_base._msg_callback.__set__(ctx, _keep_peer_certificate)  # type: ignore[attr-defined]  # CPython's private _ssl message callback


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


def audit_handshakes(ctx: ssl.SSLContext) -> None:
    """Make `ctx` report failed handshakes: the `prepare` of the partner listener's
    `ContextHolder`, so that every context rebuilt for a new CRL audits too."""
    _watch_certificates(ctx)
    ctx.sslobject_class = AuditedSSLObject


@dataclass(slots=True)
class _Arrival:
    """One accepted connection until its handshake is over."""

    source_ip: str | None
    on_failure: Callable[[HandshakeFailure], None]
    reported: bool = False

    def report(self, exc: BaseException, der: bytes | None) -> None:
        if self.reported:
            return
        self.reported = True
        subject = print_ = None
        if der:
            try:
                subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
                print_ = fingerprint(der)
            except ValueError:
                pass
        detail = getattr(exc, "verify_message", None) or str(exc) or type(exc).__name__
        try:
            self.on_failure(HandshakeFailure(self.source_ip, _reason(exc), detail, subject,
                                             print_))
        except Exception:  # auditing must never break the listener
            log.exception("could not audit a failed handshake")


# The arrival being handshaken: the loop runs a connection's callbacks (and so its
# handshake) in the context of the task that handed the connection over.
_arrival: contextvars.ContextVar[_Arrival] = contextvars.ContextVar("corridor_tls_arrival")


class AuditedSSLObject(ssl.SSLObject):
    """A partner connection's TLS state, as the loop's native TLS drives it."""

    def do_handshake(self) -> None:
        failed: ssl.SSLError | None = getattr(self, "corridor_failed", None)
        if failed is not None:
            raise failed
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            arrival = _arrival.get(None)
            if arrival is not None:
                arrival.report(exc, getattr(self, "corridor_peer_der", None))
            # Told that the handshake wants more, the loop first sends what OpenSSL queued
            # (the alert that tells the client why: unknown CA, expired, revoked...); the
            # next step, when the client answers or hangs up, fails with `exc`.
            self.corridor_failed = exc
            raise ssl.SSLWantReadError("handshake failed; alert pending") from None


@dataclass
class Listener:
    """The partner port: accepted connections are handshaken in tasks of their own."""

    loop: asyncio.AbstractEventLoop
    app_factory: Callable[[], asyncio.Protocol]
    contexts: ContextHolder
    on_failure: Callable[[HandshakeFailure], None]
    sockets: list[socket.socket]
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> None:
        for sock in self.sockets:
            self._spawn(self._accept(sock))

    def _spawn(self, coro: object) -> None:
        task = self.loop.create_task(coro)  # type: ignore[arg-type]  # uvloop hands over a coroutine
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, address = await self.loop.sock_accept(sock)
            except OSError as exc:  # out of file descriptors, say: wait, go on
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            self._spawn(self._handshake(conn, address))

    async def _handshake(self, conn: socket.socket, address: object) -> None:
        source_ip = address[0] if isinstance(address, tuple) else None
        arrival = _Arrival(source_ip, self.on_failure)
        _arrival.set(arrival)
        try:
            await self.loop.connect_accepted_socket(
                self.app_factory, conn, ssl=self.contexts.current,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S)
        except OSError as exc:  # the transport is closed already
            arrival.report(exc, None)  # not if the handshake step reported it

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for sock in self.sockets:
            sock.close()


def _bind(host: str, port: int, reuse_port: bool) -> list[socket.socket]:
    """Listening sockets on every address `host` names, as `loop.create_server` binds."""
    sockets = []
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    try:
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(1024)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def listen(
    loop: asyncio.AbstractEventLoop,
    app_factory: Callable[[], asyncio.Protocol],
    contexts: ContextHolder,
    on_failure: Callable[[HandshakeFailure], None],
    host: str,
    port: int,
    reuse_port: bool = False,
) -> Listener:
    """A TCP listener whose connections speak TLS with the context in force on arrival."""
    listener = Listener(loop, app_factory, contexts, on_failure, _bind(host, port, reuse_port))
    listener.start()
    return listener
