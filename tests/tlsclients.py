"""Client contexts for the certificates a test makes up (a rogue, an expired or an
operator's certificate), which no role of `corridor.pki.tls` presents."""

from __future__ import annotations

import ssl
from pathlib import Path


def presenting(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """Trust `ca` for the server and present `cert` (none when not given)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx
