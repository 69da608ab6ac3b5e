"""The partner listener's TLS: client certificates required, the CRL reloaded without a
restart (`corridor.pki.tls.ContextHolder`), and failed handshakes audited.

TLS runs in the event loop's native code (uvloop's `SSLProtocol`), which hides handshake
failures: no log line, no peer address, and the connection dropped without the alert
OpenSSL queued for the client. So the listener accepts each connection itself and hands it
over with `loop.connect_accepted_socket`, in a task that knows the peer address and picks
the context in force when the connection arrived (that is how a new CRL takes effect: new
connections get the context built from the new file; on connections already open the
gateway checks each request against the serials it revokes). The connection's `SSLObject`
reports a failed handshake to that task's arrival record and lets the loop send the alert
first (`corridor.patches.uvloop_sslobject`). To audit a certificate that failed
verification (OpenSSL drops it), a TLS message callback keeps the first certificate of the
client's Certificate message (`corridor.patches.ssl_msg_callback`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from corridor.patches.ssl_msg_callback import keep_peer_certificates
from corridor.patches.uvloop_sslobject import audit_failures, report_failures_to
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
    keep_peer_certificates(ctx)
    audit_failures(ctx)


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
        report_failures_to(arrival.report)
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
