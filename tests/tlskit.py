"""TLS for tests: a bootstrapped site's layout, client contexts for the certificates a
test makes up (a rogue, an expired or an operator's certificate), which no role of
`corridor.pki.tls` presents, and a handshake in memory."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

from corridor.pki.bootstrap import bootstrap
from corridor.pki.layout import Layout
from corridor.site import load_site
from tests.support import EXAMPLE_SITE


def booted_layout(folder: Path) -> Layout:
    """A copy of the demo site in `folder`, bootstrapped as `corridor pki bootstrap` does."""
    site = folder / "site"
    shutil.copytree(EXAMPLE_SITE, site, ignore=shutil.ignore_patterns("pki", "secrets"))
    bootstrap(load_site(site))
    return Layout(site)


def presenting(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """Trust `ca` for the server and present `cert` (none when not given)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str = "127.0.0.1",
              server_side: list[ssl.SSLObject] | None = None) -> tuple[str | None, str | None]:
    """A TLS handshake in memory: (the CN the client saw, the CN the server saw or None).
    The server's end is appended to `server_side` when given; a refusal raises."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname=name)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    if server_side is not None:
        server_side.append(s)
    done = {c: False, s: False}
    for _ in range(10):
        for obj in (c, s):
            if not done[obj]:
                try:
                    obj.do_handshake()
                    done[obj] = True
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        if all(done.values()):
            c.write(b"x")  # TLS 1.3: the server learns of a refused certificate here
            s_in.write(c_out.read())
            s.read(1)
            break

    def cn(cert: dict | None) -> str | None:
        subject = dict(pair[0] for pair in (cert or {}).get("subject", ()))
        return subject.get("commonName")

    return cn(c.getpeercert()), cn(s.getpeercert())
