"""The send partner's transfer driver: what PayFast's systems do to move money through the
hub. For each transfer it asks EIG for a quote, creates the transfer with realistic KYC
(idempotently), then waits for the transfer's final status, by the sender callback when a
`CallbackInbox` runs in the same process, else by polling `GET /v1/transfers/{id}`.

Every call goes over one kept-alive, mutually authenticated connection pool (the partner's
client certificate, `corridor.httppool`) with the partner's API key. `SendDriver.run`
returns a summary; the CLI prints it as JSON, and the demo and the end-to-end bench use
the class in-process.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from corridor.api.schemas import Quote, Transfer
from corridor.core.ids import new_id
from corridor.httppool import Pool, TransportError
from corridor.sim.identity import PartnerIdentity, SimError
from corridor.sim.inbox import FINAL, CallbackInbox
from corridor.sim.wallets import DEMO_WALLETS, holder_name, wallet_account
from corridor.site.model import Partner, Site

_SENDERS = (
    ("Priya Sharma", "Mumbai"), ("Rahul Verma", "Delhi"), ("Anita Desai", "Pune"),
    ("Vikram Singh", "Jaipur"), ("Sunita Rao", "Bengaluru"), ("Arjun Nair", "Kochi"),
    ("Kavita Iyer", "Chennai"), ("Rohan Gupta", "Kolkata"), ("Meera Joshi", "Ahmedabad"),
    ("Sanjay Patel", "Surat"),
)


class TransferFailed(Exception):
    """A transfer the driver could not take to a final status (HTTP error, timeout)."""

    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage = stage


@dataclass
class Summary:
    """What a run did: outcomes by final status, errors by stage, timings."""

    requested: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, quote to final status
    elapsed_s: float = 0.0
    by_callback: int = 0

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        done = sum(self.statuses.values())
        return {
            "requested": self.requested,
            "finished": done,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "confirmed_by_callback": self.by_callback,
            "elapsed_s": round(self.elapsed_s, 3),
            "transfers_per_s": round(done / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
        }


class SendDriver:
    def __init__(
        self,
        site: Site,
        partner_id: str = "payfast",
        *,
        eig_url: str | None = None,
        api_key: str | None = None,
        api_key_file: Path | None = None,
        inbox: CallbackInbox | None = None,
        destination: str | None = None,
        timeout: float = 30.0,
        seed: int | None = None,
    ) -> None:
        ident = PartnerIdentity.of(site, partner_id, "send")
        self.site, self.partner = site, ident.partner
        self._tls = ident.client_tls()
        self._key = ident.api_key(api_key, api_key_file)
        eig = site.hub.listen.get("eig")
        self.eig_url = (eig_url or (f"https://{eig.host}:{eig.port}" if eig else "")).rstrip("/")
        self.inbox = inbox
        self.timeout = timeout
        self.receiver = _route(site, self.partner, destination)
        self._random = random.Random(seed)
        self._slots = itertools.count()
        self._pool: Pool | None = None
        self._auth = f"Bearer {self._key}"
        self._prefix = urlsplit(self.eig_url).path  # EIG behind a path, if so

    async def __aenter__(self) -> SendDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _open(self, concurrency: int) -> Pool:
        """The connection pool, at most `concurrency` connections (set by the first call)."""
        if self._pool is None:
            self._pool = Pool(self.eig_url, self._tls, concurrency, timeout=self.timeout)
        return self._pool

    async def run(self, count: int, concurrency: int = 8, amount: str = "1000.00") -> Summary:
        """Send `count` transfers of `amount` (send currency), `concurrency` at a time."""
        if count < 1 or concurrency < 1:
            raise SimError("count and concurrency must be at least 1")
        self._open(concurrency)
        summary = Summary(requested=count)
        todo = iter(range(count))
        started = time.perf_counter()

        async def worker() -> None:
            for _ in todo:
                t0 = time.perf_counter()
                try:
                    status, by_callback = await self.send_one(amount)
                except TransferFailed as exc:
                    summary.errors[exc.stage] += 1
                    continue
                summary.statuses[status] += 1
                summary.by_callback += by_callback
                summary.latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
        summary.elapsed_s = time.perf_counter() - started
        return summary

    async def send_one(self, amount: str = "1000.00") -> tuple[str, bool]:
        """One transfer from quote to final status: (final status, confirmed by callback)."""
        quote = await self.quote(amount)
        created = await self.create(quote)
        if created.status in FINAL:
            return created.status, False
        if self.inbox is not None:
            try:
                got = await self.inbox.wait_final(created.id, self.timeout)
            except TimeoutError:
                raise TransferFailed("callback", f"none for {created.id}") from None
            return got.status, True
        return await self._poll(created.id), False

    async def quote(self, amount: str) -> Quote:
        body = {
            "send_currency": self.partner.currency,
            "receive_currency": self.receiver.currency,
            "destination_country": self.receiver.country,
            "payout_method": self.receiver.payout_methods[0],
            "send_amount": amount,
        }
        return msgspec.convert(await self._post("quote", "/v1/quotes", body), Quote)

    async def create(self, quote: Quote) -> Transfer:
        slot = next(self._slots)
        name, city = _SENDERS[slot % len(_SENDERS)]
        wallet_slot = slot % DEMO_WALLETS + 1
        account = wallet_account(self.receiver.country, wallet_slot)
        body = {
            "quote_id": quote.id,
            "reference": f"{self.partner.id.upper()[:2]}-{new_id()}",
            "sender": {
                "name": name,
                "account": f"{self.partner.country}{self._random.randrange(10**11, 10**12)}",
                "address": f"{self._random.randint(1, 400)} MG Road, {city}",
                "id_type": "passport",
                "id_number": f"P{self._random.randrange(10**6, 10**7)}",
                "country": self.partner.country,
            },
            "beneficiary": {
                "name": holder_name(wallet_slot).title(),
                "account": account,
                "phone": f"+{account}",
                "country": self.receiver.country,
            },
            "purpose": "family support",
            "source_of_funds": "salary",
        }
        return msgspec.convert(await self._post("transfer", "/v1/transfers", body), Transfer)

    async def status(self, transfer_id: str) -> Transfer:
        data = await self._call("status", "GET", f"/v1/transfers/{transfer_id}", None)
        return msgspec.convert(data, Transfer)

    async def cancel(self, transfer_id: str, reason: str | None = None) -> Transfer:
        """Cancel a transfer that has not been submitted yet."""
        body = {"reason": reason} if reason else {}
        data = await self._post("cancel", f"/v1/transfers/{transfer_id}/cancel", body)
        return msgspec.convert(data, Transfer)

    async def recall(self, transfer_id: str, reason: str) -> dict[str, Any]:
        """Ask for a completed transfer's funds back: the recall as the hub recorded it
        (its outcome follows by sender callback)."""
        data: dict[str, Any] = await self._post(
            "recall", f"/v1/transfers/{transfer_id}/recall", {"reason": reason})
        return data

    async def _poll(self, transfer_id: str) -> str:
        deadline = time.monotonic() + self.timeout
        delay = 0.02
        while time.monotonic() < deadline:
            transfer = await self.status(transfer_id)
            if transfer.status in FINAL:
                return transfer.status
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise TransferFailed("status", f"{transfer_id} not final after {self.timeout}s")

    async def _post(self, stage: str, path: str, body: dict[str, Any]) -> Any:
        return await self._call(stage, "POST", path, body)

    async def _call(self, stage: str, method: str, path: str, body: Any) -> Any:
        """One call, retried with the same Idempotency-Key when the answer is lost."""
        pool = self._open(8)
        headers = {"Authorization": self._auth}
        if method == "POST":
            headers["Idempotency-Key"] = new_id()
        data = msgspec.json.encode(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        last = ""
        for attempt in range(3):
            try:
                resp = await pool.request(method, self._prefix + path, headers, data)
                if resp.status < 300:
                    return msgspec.json.decode(resp.body)
                last = f"HTTP {resp.status}: {resp.body[:200].decode(errors='replace')}"
                if resp.status < 500:
                    break  # a definite refusal: retrying will not change it
            except TransportError as exc:
                last = str(exc)
            await asyncio.sleep(0.05 * (attempt + 1))
        raise TransferFailed(stage, last)


def _route(site: Site, sender: Partner, destination: str | None) -> Partner:
    """The receive partner the driver's transfers go to: in `destination` if given, else
    the first (by id) the hub has a rate for from the sender's currency."""
    for p in sorted(site.partners.values(), key=lambda p: p.id):
        if not p.receives or p.disabled or not p.payout_methods:
            continue
        if destination is not None and p.country != destination:
            continue
        if (sender.currency, p.currency) in site.hub.tariff.fx_rates or destination is not None:
            return p
    raise SimError(f"no receive partner for {sender.id} to send to"
                   + (f" in {destination}" if destination else ""))
