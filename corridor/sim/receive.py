"""`corridor sim receive-partner`: a receive partner (the demo's MobiCash) as a real
remote party over HTTPS.

It serves the receive-partner protocol (docs/receive-partner-api.md) to the hub: validate
an account against its wallet book, submit a payout (idempotent by Idempotency-Key: a
wallet is never credited twice for one payout), query a payout. Then it reports each
outcome to the hub with a signed receiver callback through EIG. Fault knobs (`Faults`)
make it slow, failing, erroring, hanging, down, or sloppy with its callbacks; a control
API under `/sim/` switches them at runtime and shows the wallet book.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import ipaddress
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from corridor.api.receive_partner import PayoutAnswer, PayoutRequest, ValidateRequest, Validation
from corridor.api.schemas import ReceiverCallback
from corridor.core.errors import Conflict, CorridorError, InvalidInput, NotFound
from corridor.core.money import format_minor, parse_minor
from corridor.core.times import rfc3339
from corridor.pki.files import write_atomic
from corridor.sim.callbacks import CallbackSender, Delivery
from corridor.sim.faults import FaultError, Faults
from corridor.sim.identity import PartnerIdentity, SimError, host_port, loopback_source
from corridor.sim.wallets import Credit, WalletBook, name_score
from corridor.sim.web import Listener, check_signature, decode, problems, reply
from corridor.site.model import Site

log = logging.getLogger(__name__)


def _is_loopback(url: str) -> bool:
    host = host_port(url)[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(slots=True)
class Payout:
    """A payout as the partner's books hold it."""

    request: PayoutRequest
    body_hash: str  # of the first request, to tell a replay from a conflicting reuse
    answer: PayoutAnswer  # what the submit answered (replayed on the same key)
    status: str  # SUCCESS or FAILURE: the outcome, decided when it was received
    reason: str | None
    credited: bool
    received_at: str


class ReceivePartnerSim:
    """One receive partner. `await start()` listens; `await stop()` closes everything.

    Usable in-process (tests, the demo, the e2e bench) or from the CLI."""

    def __init__(
        self,
        site: Site,
        partner_id: str = "mobicash",
        *,
        listen: tuple[str, int] | None = None,
        eig_url: str | None = None,
        api_key: str | None = None,
        api_key_file: Path | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        state_file: Path | None = None,
        callback_concurrency: int = 64,
        callback_timeout: float = 10.0,
    ) -> None:
        ident = PartnerIdentity.of(site, partner_id, "receive")
        self.site, self.ident, self.partner = site, ident, ident.partner
        self.faults = faults or Faults()
        self.random = random.Random(seed)
        self.state_file = state_file
        self.book = WalletBook(self.partner.country, self.partner.currency)
        self.payouts: dict[str, Payout] = {}
        self._keys: dict[str, str] = {}  # Idempotency-Key -> payout_id
        self.secret = ident.secret
        self._next_ref = 0
        self._dirty = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        host, port = listen or host_port(self.partner.endpoint)
        self.listener = Listener(self._app(), host, port, ident.server_tls("required"))
        eig = site.hub.listen.get("eig")
        self.eig_url = eig_url or (f"https://{eig.host}:{eig.port}" if eig else "")
        self.callbacks = CallbackSender(
            self.eig_url, ident.client_tls(), ident.api_key(api_key, api_key_file),
            self.secret, concurrency=callback_concurrency, timeout=callback_timeout,
            source=loopback_source(self.partner) if _is_loopback(self.eig_url) else None,
        )

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.listener.host}:{self.listener.port}"

    async def start(self) -> ReceivePartnerSim:
        if self.state_file is not None and self.state_file.exists():
            self._load_state()
        await self.callbacks.start()
        await self.listener.start()
        if self.state_file is not None:
            self._spawn(self._flush_state())
        return self

    async def stop(self) -> None:
        await self.listener.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.callbacks.close()
        if self.state_file is not None:
            self._write_state()

    async def __aenter__(self) -> ReceivePartnerSim:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def go_down(self, seconds: float | None = None) -> None:
        """Close the listener and every open connection; reopen after `seconds` if given."""
        await self.listener.stop()
        if seconds is not None:
            self._spawn(self._come_back(seconds))

    async def come_up(self) -> None:
        await self.listener.start()

    async def _come_back(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.listener.start()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the partner API ---------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[problems], client_max_size=64 * 1024)
        app.router.add_post("/v1/accounts/validate", self.validate)
        app.router.add_post("/v1/payouts", self.submit)
        app.router.add_get("/v1/payouts/{payout_id}", self.query)
        app.router.add_get("/sim/health", self.health)
        app.router.add_get("/sim/faults", self.get_faults)
        app.router.add_patch("/sim/faults", self.set_faults)
        app.router.add_post("/sim/down", self.down)
        app.router.add_get("/sim/wallets/{account}", self.wallet)
        app.router.add_get("/sim/payouts/{payout_id}", self.payout_record)
        app.router.add_get("/sim/callbacks", self.callback_log)
        return app

    async def _enter(self, request: web.Request, body: bytes, signed: bool) -> web.Response | None:
        """What every /v1 request goes through: signature, latency, injected 500s."""
        if signed or request.headers.get("Corridor-Signature") is not None:
            check_signature(self.secret, request, body)
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if self.faults.error_rate and self.random.random() < self.faults.error_rate:
            return reply({"status": "ERROR", "reason": "simulated internal error"}, 500)
        return None

    async def validate(self, request: web.Request) -> web.Response:
        body = await request.read()
        if (early := await self._enter(request, body, signed=True)) is not None:
            return early
        ask = decode(body, ValidateRequest)
        self._check_method(ask.payout_method, ask.currency)
        wallet = self.book.get(ask.account)
        if wallet is None:
            return reply(Validation(account=ask.account, valid=False))
        score = name_score(ask.name, wallet.holder) if ask.name else None
        return reply(Validation(account=ask.account, valid=True, holder_name=wallet.holder,
                                name_match_score=score))

    async def submit(self, request: web.Request) -> web.Response:
        body = await request.read()
        if (early := await self._enter(request, body, signed=True)) is not None:
            return early
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise CorridorError("Idempotency-Key header is required",
                               code="idempotency_key_missing")
        payout, fresh = self._book_payout(key, body)
        if fresh:
            self._dirty.set()
            delivery = self._report(payout)
            if delivery is not None and self.faults.callback_first:
                # The callback reaches the hub (or is at least tried) before the answer.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(delivery.wait(), self.callbacks.timeout)
            if self.faults.hang_after_credit:
                await asyncio.sleep(self.faults.hang_seconds)
        return reply(payout.answer, 201 if fresh else 200)

    def _book_payout(self, key: str, body: bytes) -> tuple[Payout, bool]:
        """Find the payout this request repeats, or record and settle a new one. No await
        here: the check and the credit happen as one step on the event loop."""
        digest = hashlib.sha256(body).hexdigest()
        known = self._keys.get(key)
        if known is not None:
            payout = self.payouts[known]
            if payout.body_hash != digest:
                raise Conflict("Idempotency-Key reused with a different body",
                               code="idempotency_conflict")
            return payout, False
        ask = decode(body, PayoutRequest)
        self._check_method(ask.payout_method, ask.currency)
        minor = parse_minor(ask.amount, ask.currency)
        if minor <= 0:
            raise InvalidInput("amount must be above zero", code="invalid_amount")
        if ask.payout_id in self.payouts:  # same payout under another key: never twice
            payout = self.payouts[ask.payout_id]
            self._keys[key] = ask.payout_id
            return payout, False
        self._next_ref += 1
        ref = f"{self.partner.id[:2].upper()}-{self._next_ref:06d}"
        now = rfc3339(datetime.now(UTC))
        status, reason, credited = self._settle(ask, minor, ref, now)
        shown = status if self.faults.sync_outcome else "PENDING"
        answer = PayoutAnswer(payout_id=ask.payout_id, partner_reference=ref, status=shown,
                              reason=reason if shown == "FAILURE" else None)
        payout = Payout(ask, digest, answer, status, reason, credited, now)
        self.payouts[ask.payout_id] = payout
        self._keys[key] = ask.payout_id
        return payout, True

    def _settle(self, ask: PayoutRequest, minor: int, ref: str, now: str
                ) -> tuple[str, str | None, bool]:
        account = ask.beneficiary.account or ""
        wallet = self.book.get(account)
        if wallet is None:
            return "FAILURE", f"no wallet {account}", False
        if wallet.frozen:
            return "FAILURE", "wallet is frozen", False
        if self.faults.failure_rate and self.random.random() < self.faults.failure_rate:
            return "FAILURE", "simulated payout failure", False
        self.book.credit(account, Credit(ask.payout_id, minor, now, ref))
        return "SUCCESS", None, True

    def _check_method(self, method: str, currency: str) -> None:
        if method not in self.partner.payout_methods:
            raise InvalidInput(f"payout method {method!r} is not offered",
                               code="payout_method_not_supported")
        if currency not in self.partner.currencies:
            raise InvalidInput(f"currency {currency} is not paid out here",
                               code="currency_not_supported")

    async def query(self, request: web.Request) -> web.Response:
        if (early := await self._enter(request, b"", signed=False)) is not None:
            return early
        payout = self.payouts.get(request.match_info["payout_id"])
        if payout is None:
            return reply({"status": "NOT_FOUND"}, 404)
        return reply(PayoutAnswer(payout_id=payout.request.payout_id,
                                  partner_reference=payout.answer.partner_reference,
                                  status=payout.status,  # type: ignore[arg-type]
                                  reason=payout.reason))

    # -- receiver callbacks ------------------------------------------------------------

    def _report(self, payout: Payout) -> asyncio.Event | None:
        """Queue the outcome's callback(s) as the fault knobs say; the first delivery's
        done event, for `callback_first`."""
        if not self.faults.callbacks:
            return None
        first = self._callback(payout, payout.status, payout.reason)
        if not self.faults.callback_delay_ms and not self.faults.callback_first:
            self._send_all(payout, first)
            return None
        done = asyncio.Event()

        async def later() -> None:
            if self.faults.callback_delay_ms:
                await asyncio.sleep(self.faults.callback_delay_ms / 1000)
            deliveries = self._send_all(payout, first)
            assert deliveries[0].done is not None
            await deliveries[0].done.wait()
            done.set()

        self._spawn(later())
        return done

    def _send_all(self, payout: Payout, first: ReceiverCallback) -> list[Delivery]:
        deliveries = [self.callbacks.send(first)]
        if self.faults.duplicate_callback:
            deliveries.append(self.callbacks.send(first))
        if self.faults.success_after_failure and payout.status == "FAILURE":
            contrary = self._callback(payout, "SUCCESS", None)
            self._spawn(self._after(deliveries[0], contrary))
        return deliveries

    async def _after(self, first: Delivery, then: ReceiverCallback) -> None:
        """Send `then` once `first` is settled, so the hub sees them in that order."""
        assert first.done is not None
        await first.done.wait()
        self.callbacks.send(then)

    def _callback(self, payout: Payout, status: str, reason: str | None) -> ReceiverCallback:
        return ReceiverCallback(
            transfer_id=payout.request.payout_id, status=status,  # type: ignore[arg-type]
            partner_reference=payout.answer.partner_reference, reason=reason,
            at=rfc3339(datetime.now(UTC)),
        )

    # -- the control API ---------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return reply({"status": "ok", "partner": self.partner.id,
                      "callbacks_pending": self.callbacks.pending})

    async def get_faults(self, request: web.Request) -> web.Response:
        return reply(self.faults.as_dict())

    async def set_faults(self, request: web.Request) -> web.Response:
        changes = decode(await request.read(), dict[str, Any])
        try:
            self.faults.update(changes)
        except FaultError as exc:
            raise InvalidInput(str(exc), code="invalid_fault") from None
        return reply(self.faults.as_dict())

    async def down(self, request: web.Request) -> web.Response:
        """Answer, then close the listener and every connection for `seconds`."""
        ask = decode(await request.read() or b"{}", dict[str, float])
        seconds = ask.get("seconds")
        if seconds is None or not 0 < seconds <= 3600:
            raise InvalidInput("give seconds, between 0 and 3600", code="invalid_fault")

        async def later() -> None:
            await asyncio.sleep(0.05)  # let the answer leave first
            await self.go_down(seconds)

        self._spawn(later())
        return reply({"down_for_seconds": seconds}, 202)

    async def wallet(self, request: web.Request) -> web.Response:
        wallet = self.book.get(request.match_info["account"])
        if wallet is None:
            raise NotFound("no such wallet", code="wallet_not_found")
        cur = wallet.currency
        return reply({
            "account": wallet.account, "holder_name": wallet.holder, "currency": cur,
            "frozen": wallet.frozen, "balance": format_minor(wallet.balance, cur),
            "credits": [{"payout_id": c.payout_id, "amount": format_minor(c.amount, cur),
                         "at": c.at, "partner_reference": c.partner_reference}
                        for c in wallet.credits],
        })

    async def payout_record(self, request: web.Request) -> web.Response:
        payout = self.payouts.get(request.match_info["payout_id"])
        if payout is None:
            raise NotFound("no such payout", code="payout_not_found")
        keys = sorted(k for k, v in self._keys.items() if v == payout.request.payout_id)
        return reply({"payout_id": payout.request.payout_id, "status": payout.status,
                      "reason": payout.reason, "credited": payout.credited,
                      "partner_reference": payout.answer.partner_reference,
                      "received_at": payout.received_at, "idempotency_keys": keys})

    async def callback_log(self, request: web.Request) -> web.Response:
        wanted = request.query.get("transfer_id")
        return reply([d.as_dict() for d in self.callbacks.deliveries
                      if wanted is None or d.callback.transfer_id == wanted])

    # -- the optional state file -------------------------------------------------------

    async def _flush_state(self) -> None:
        """Write the state file at most every 100 ms while payouts arrive."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._write_state()
            await asyncio.sleep(0.1)

    def _write_state(self) -> None:
        assert self.state_file is not None
        state = {
            "partner": self.partner.id,
            "next_reference": self._next_ref,
            "wallets": {w.account: {"balance": w.balance,
                                    "credits": [dataclasses.asdict(c) for c in w.credits]}
                        for w in self.book.touched()},
            "payouts": {pid: {"request": msgspec.to_builtins(p.request), "body_hash": p.body_hash,
                              "answer": msgspec.to_builtins(p.answer), "status": p.status,
                              "reason": p.reason, "credited": p.credited,
                              "received_at": p.received_at}
                        for pid, p in self.payouts.items()},
            "keys": self._keys,
        }
        write_atomic(self.state_file, msgspec.json.encode(state), 0o600)

    def _load_state(self) -> None:
        assert self.state_file is not None
        try:
            state = msgspec.json.decode(self.state_file.read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise SimError(f"cannot read state file {self.state_file}: {exc}") from None
        self._next_ref = int(state.get("next_reference", 0))
        for account, saved in state.get("wallets", {}).items():
            wallet = self.book.get(account)
            if wallet is None:
                continue
            wallet.balance = int(saved["balance"])
            wallet.credits = [Credit(**c) for c in saved["credits"]]
        for pid, saved in state.get("payouts", {}).items():
            self.payouts[pid] = Payout(
                msgspec.convert(saved["request"], PayoutRequest), saved["body_hash"],
                msgspec.convert(saved["answer"], PayoutAnswer), saved["status"],
                saved["reason"], saved["credited"], saved["received_at"])
        self._keys.update(state.get("keys", {}))
