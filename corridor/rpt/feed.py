"""Following TXN's event feed over its internal mTLS API (RPT's own client certificate,
CN=rpt) and counting each page into the store."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import msgspec

from corridor.core.errors import CorridorError
from corridor.httppool import Pool, TransportError
from corridor.pki.tls import following_client_context
from corridor.rpt.ingest import Ingestor, decode_page
from corridor.rpt.store import cursor
from corridor.site.model import Site

log = logging.getLogger("corridor.rpt.feed")
PAGE = 5_000  # events asked for per call (TXN serves at most 5,000)
PAGES_PER_COMMIT = 8  # while catching up, pages fetched before they are applied together


@dataclass
class FeedState:
    """What the dashboard says about the feed."""

    state: str = "starting"  # following | caught up | unreachable | refused
    error: str | None = None
    last_ok: float | None = None  # unix time of the last successful fetch
    started: float = field(default_factory=time.time)
    # Unix time of the last fetch that found nothing more waiting, applied since: RPT then
    # held every event TXN had. Now minus this is how far the feed lags.
    caught_up_at: float | None = None

    def lag(self, now: float) -> float:
        """Seconds since RPT last held every event TXN had (since start if never)."""
        return max(0.0, now - (self.caught_up_at or self.started))


def txn_url(site: Site) -> str:
    listen = site.hub.listen["txn"]
    return f"https://{listen.host}:{listen.port}"


def rpt_client_context(site: Site) -> ssl.SSLContext:
    pki = site.root / "pki"
    return following_client_context(pki / "hub-ca.crt", pki / "hub" / "rpt.crt",
                                    pki / "hub" / "rpt.key")


class Feed:
    """Fetches pages after the stored cursor and applies them, one at a time, in order."""

    def __init__(self, site: Site, ingestor: Ingestor, base_url: str | None = None,
                 poll_s: float = 0.5, ssl_context: ssl.SSLContext | None = None) -> None:
        self.site = site
        self.ssl_context = ssl_context
        self.ingestor = ingestor
        self.base_url = base_url or txn_url(site)
        self.poll_s = poll_s
        self.status = FeedState()
        self._pool: Pool | None = None

    def _client(self) -> Pool:
        if self._pool is None:
            ctx = self.ssl_context or rpt_client_context(self.site)
            # One connection: pages are fetched one after the other. A page of 5,000
            # events is bounded by TXN, the hub's own server: no bound on the body here.
            self._pool = Pool(self.base_url, ctx, 1, timeout=30, max_body=None)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def step(self) -> int:
        """Fetch the pages after the stored cursor (up to PAGES_PER_COMMIT while they come
        full) and apply them together; the number of events newly counted."""
        after = cursor(self.ingestor.con)[0]
        pool = self._client()
        path = urlsplit(self.base_url).path.rstrip("/") + "/internal/v1/events?"
        bodies: list[bytes] = []
        last_asked = time.time()
        caught_up = False
        while len(bodies) < PAGES_PER_COMMIT:
            last_asked = time.time()
            resp = await pool.request(
                "GET", path + urlencode({"after": after, "limit": PAGE}), {})
            if resp.status != 200:
                raise CorridorError(
                    f"TXN answered {resp.status} for the event feed: {resp.body[:200]!r}",
                    code="feed_refused",
                )
            body = resp.body
            bodies.append(body)
            try:
                head = decode_page(body)
            except msgspec.DecodeError:
                break  # the ingestor refuses it, with the reason
            if len(head.events) < PAGE or head.next <= after:
                caught_up = True
                break
            after = head.next
        applied = await asyncio.to_thread(self.ingestor.apply_many, bodies)
        self.status.last_ok = time.time()
        if caught_up:
            self.status.caught_up_at = last_asked
        return applied.counted

    async def catch_up(self) -> int:
        """Apply pages until the feed has nothing new; the events counted."""
        total = 0
        while (n := await self.step()) > 0:
            total += n
        return total

    async def run(self) -> None:
        """Follow the feed until cancelled, backing off while TXN is unreachable."""
        backoff = self.poll_s
        while True:
            try:
                n = await self.step()
            except TransportError as exc:
                self.status.state, self.status.error = "unreachable", str(exc)[:200]
                log.warning("event feed unreachable: %s", exc)
                backoff = min(backoff * 2, 10.0)
                await asyncio.sleep(backoff)
                continue
            except CorridorError as exc:
                self.status.state, self.status.error = "refused", exc.detail[:200]
                log.error("event feed: %s", exc.detail)
                backoff = min(backoff * 2, 10.0)
                await asyncio.sleep(backoff)
                continue
            backoff = self.poll_s
            self.status.state = "following" if n else "caught up"
            self.status.error = None
            if n < PAGE // 2:
                await asyncio.sleep(self.poll_s)


def open_ingestor(con, data_dir: Path) -> Ingestor:  # type: ignore[no-untyped-def]  # con is a DuckDB connection
    spool = data_dir / "rpt-spool"
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Ingestor(con, spool)
