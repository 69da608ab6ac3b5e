"""TLS contexts for every hop: TLS 1.2+ with modern AEAD ciphers only, client certificates
required where a server says so."""

from __future__ import annotations

import ssl
import weakref
from pathlib import Path
from typing import Any

# ECDHE with AES-GCM or ChaCha20 for TLS 1.2; TLS 1.3 suites are modern by construction.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS:!SHA1"


def server_context(
    cert: Path, key: Path, client_ca: Path | None = None, crl: Path | None = None
) -> ssl.SSLContext:
    """A server context; with `client_ca` a client certificate is required and chained to it.
    With `crl` revoked client certificates are refused during the handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
        if crl is not None and crl.exists():
            ctx.load_verify_locations(crl)
            ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A client context that verifies the server against `ca` and presents `cert` if given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


# The peer's common name per TLS connection: the certificate cannot change within a
# connection, and decoding it for every request cost more than the rest of the check.
_PEER_NAMES: weakref.WeakKeyDictionary[object, str | None] = weakref.WeakKeyDictionary()


def peer_common_name(transport: Any) -> str | None:
    """The common name of the verified client certificate on this transport, read from the
    TLS connection itself (never from a header); None over plain TCP or without one."""
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    if sslobj is None:
        return None
    try:
        return _PEER_NAMES[sslobj]
    except KeyError:
        pass
    name = None
    for rdn in (sslobj.getpeercert() or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = str(value)
    _PEER_NAMES[sslobj] = name
    return name
