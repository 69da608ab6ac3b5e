"""Report a failed TLS handshake from inside uvloop's native TLS, with the peer address,
and still send the client the alert OpenSSL queued.

Private API: none by name, but behaviour of uvloop's `SSLProtocol` that it does not
document: it creates each connection's `SSLObject` from `SSLContext.sslobject_class`
(through `wrap_bio`), calls its `do_handshake()` for each step, and on
`SSLWantReadError` first flushes what OpenSSL queued before waiting for the peer; and it
runs a connection's callbacks in the context of the task that called
`loop.connect_accepted_socket`.

Why: uvloop runs the handshake in native code and hides its failures: no log line, no
peer address, and the connection dropped without the alert. No public hook reports a
failed handshake. So the `SSLObject` class of the partner listener's contexts
(`AuditedSSLObject`) reports a failure to the reporter of the task that handed the
connection over, and answers "want read" once, which makes uvloop send the alert; the
next step, when the client answers or hangs up, fails with the real error.

Written for uvloop 0.23.0 (tests/patches/test_uvloop_sslobject.py).
"""

from __future__ import annotations

import contextvars
import ssl
from collections.abc import Callable

from corridor.patches import require
from corridor.patches.ssl_msg_callback import peer_certificate_der

require(__name__, "uvloop", "0.23.0")

Reporter = Callable[[ssl.SSLError, bytes | None], None]

# The reporter of the connection being handshaken: the loop runs a connection's callbacks
# (and so its handshake) in the context of the task that handed the connection over.
_reporter: contextvars.ContextVar[Reporter] = contextvars.ContextVar("corridor_tls_reporter")


def report_failures_to(reporter: Reporter) -> None:
    """Send the failed handshakes of connections this task hands to the loop to
    `reporter` (the error, and the peer's certificate when it sent one)."""
    _reporter.set(reporter)


def audit_failures(ctx: ssl.SSLContext) -> None:
    """Make the connections of `ctx` report failed handshakes."""
    ctx.sslobject_class = AuditedSSLObject


class AuditedSSLObject(ssl.SSLObject):
    """A connection's TLS state, as the loop's native TLS drives it."""

    def do_handshake(self) -> None:
        failed: ssl.SSLError | None = getattr(self, "corridor_failed", None)
        if failed is not None:
            raise failed
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            reporter = _reporter.get(None)
            if reporter is not None:
                reporter(exc, peer_certificate_der(self))
            # Told that the handshake wants more, the loop first sends what OpenSSL queued
            # (the alert that tells the client why: unknown CA, expired, revoked...); the
            # next step, when the client answers or hangs up, fails with `exc`.
            self.corridor_failed = exc
            raise ssl.SSLWantReadError("handshake failed; alert pending") from None
