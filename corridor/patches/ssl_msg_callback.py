"""Keep the client's certificate of a TLS handshake even when verification fails, for
EIG's audit of refused handshakes.

Private API: the `_msg_callback` attribute of CPython's `_ssl._SSLContext`, OpenSSL's
message callback, set through the C type's own setter.

Why: OpenSSL drops a certificate that fails verification, so neither `getpeercert()`
nor the `SSLCertVerificationError` says who was refused; only the TLS Certificate
message itself carries it. The stdlib offers no public hook on handshake messages. Its
`ssl.SSLContext._msg_callback` (private too, a debugging aid) wraps the callback to turn
three arguments into enum members on every call; OpenSSL calls it for every record
header as well, at least twice per request, and that conversion cost more than the
check. The C type's setter takes any callable and passes OpenSSL's plain numbers.

Written for CPython 3.11 (tests/patches/test_ssl_msg_callback.py).
"""

from __future__ import annotations

import ssl

from corridor.patches import require_python

require_python(__name__, "3.11")

_HANDSHAKE = 22  # TLS ContentType handshake
_CERTIFICATE = 11  # HandshakeType certificate
_PEER_DER = "corridor_peer_der"  # where the certificate is kept on the SSLObject


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


def _keep_peer_certificate(conn, direction, version, content_type, msg_type, data):  # type: ignore[no-untyped-def]
    if content_type == _HANDSHAKE and msg_type == _CERTIFICATE and direction == "read":
        setattr(conn, _PEER_DER, _first_certificate(version, data))


def keep_peer_certificates(ctx: ssl.SSLContext) -> None:
    """Make every connection of `ctx` keep the first certificate the peer sends."""
    ssl_base = ssl.SSLContext.__mro__[1]  # _ssl._SSLContext, whose setter takes any callable
    ssl_base._msg_callback.__set__(ctx, _keep_peer_certificate)  # type: ignore[attr-defined]


def peer_certificate_der(sslobj: ssl.SSLObject) -> bytes | None:
    """The leaf certificate the peer sent on this connection, verified or not."""
    return getattr(sslobj, _PEER_DER, None)
