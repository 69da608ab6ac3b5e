"""EIG's client of the hub's internal servers (TXN's internal API, RPT's report
endpoints): mutual TLS with EIG's hub certificate, one pool of kept-alive connections per
server (`corridor.httppool`), and the server's answer (status, body, problem+json) relayed
unchanged."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass

from corridor.api.internal import Relayed
from corridor.core.errors import Unavailable
from corridor.eig.coalescer import Coalescer
from corridor.httppool import MAX_BODY, Pool, TransportError
from corridor.site.model import Site

# Response headers of TXN a partner may see; everything else stays inside the hub.
PASS_HEADERS = ("Content-Type", "Retry-After", "Idempotency-Replayed", "Location",
                "Content-Disposition")
_PASS_LOWER = tuple((h, h.lower()) for h in PASS_HEADERS)
TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


def server_url(site: Site, name: str) -> str:
    """A hub server's base URL from the site (`name` is "txn" or "rpt"): its listen
    address, or its host's when it listens on every address."""
    listen = site.hub.listen[name]
    host = listen.host
    try:
        if ipaddress.ip_address(host).is_unspecified:
            entry = site.hub.host(name)
            host = entry.address if entry else "127.0.0.1"
    except ValueError:
        pass
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{listen.port}"


def txn_url(site: Site) -> str:
    return server_url(site, "txn")


def rpt_url(site: Site) -> str:
    return server_url(site, "rpt")


class Upstream:
    """One internal server, over one pool of kept-alive connections (`corridor.httppool`).
    `unavailable` is what a partner is told when it cannot answer: (problem code, detail)."""

    unavailable = ("upstream_unavailable", "the hub cannot answer now; retry later")
    max_body: int | None = MAX_BODY  # the largest answer read

    def __init__(self, base_url: str, context: ssl.SSLContext, pool: int = 256) -> None:
        self.base_url = base_url.rstrip("/")
        self._context = context
        self._size = pool
        self._pool: Pool | None = None

    async def start(self) -> None:
        self._pool = Pool(self.base_url, self._context, self._size, timeout=TIMEOUT_S,
                          max_body=self.max_body)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def _unavailable(self) -> Unavailable:
        code, detail = self.unavailable
        return Unavailable(detail, code=code)

    async def relay(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
        *, coalesced: bool = False,
    ) -> Answer:
        """Send one call; Unavailable (503 with the `unavailable` code) when the server
        cannot answer. (`coalesced` is for TXN; here each call goes alone.)"""
        assert self._pool is not None, "start() first"
        try:
            got = await self._pool.request(method, path, headers, body)
        except TransportError as exc:
            raise self._unavailable() from exc
        passed = {h: got.headers[low] for h, low in _PASS_LOWER if low in got.headers}
        return Answer(got.status, got.body, passed)


class Txn(Upstream):
    """TXN's internal API: the hot hop of every partner call. A POST that timed out may
    have been applied: the partner retries with the same Idempotency-Key and TXN answers
    the original response."""

    unavailable = ("txn_unavailable",
                   "the transaction engine is unavailable; retry with the same Idempotency-Key")

    async def start(self) -> None:
        await super().start()
        assert self._pool is not None
        self._coalescer = Coalescer(self._pool, self._unavailable)

    async def relay(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
        *, coalesced: bool = False,
    ) -> Answer:
        """With `coalesced`, the call goes to TXN in a batch with the calls made meanwhile
        (`corridor.eig.coalescer`); its answer is the same."""
        if coalesced:
            got = await self._coalescer.call(Relayed(
                method, path, headers["Corridor-Partner"], headers.get("Idempotency-Key"),
                headers.get("Corridor-Signature"), body or b"", headers.get("traceparent")))
            return Answer(got.status, got.body, {"Content-Type": got.content_type})
        return await super().relay(method, path, headers, body)


class Rpt(Upstream):
    """RPT's report endpoints (read-only: a retry is always safe)."""

    unavailable = ("reports_unavailable", "reports are unavailable now; retry later")
    max_body = None  # a report covers up to 366 days; RPT is the hub's own server
