"""`corridor sim receive-partner`: a receive partner (the demo's MobiCash) as a real
remote party over HTTPS.

It serves the receive-partner protocol (docs/receive-partner-api.md) to the hub: validate
an account against its wallet book, submit a payout (idempotent by Idempotency-Key: a
wallet is never credited twice for one payout), query a payout. Then it reports each
outcome to the hub with a signed receiver callback through EIG. Fault knobs (`InjectedFaults`)
make it slow, failing, erroring, hanging, down, or sloppy with its callbacks; a control
API under `/sim/` switches them at runtime and shows the wallet book.

This module is the HTTP surface and the simulator's life; its books are
`corridor.sim.payouts`, the callbacks it sends `corridor.sim.outcomes` (delivered by
`corridor.sim.callbacks`), the control API `corridor.sim.control`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from corridor.api.receive_partner import (
    PayoutAnswer,
    RecallAnswer,
    RecallAsk,
    ValidateRequest,
    Validation,
)
from corridor.core.errors import Conflict, CorridorError, NotFound
from corridor.pki.files import write_atomic
from corridor.sim import iso
from corridor.sim.callbacks import CallbackSender
from corridor.sim.control import ControlApi
from corridor.sim.faults import InjectedFaults
from corridor.sim.identity import PartnerIdentity, SimError, host_port, loopback_source
from corridor.sim.outcomes import OutcomeCallbacks
from corridor.sim.payouts import Payout, Payouts
from corridor.sim.wallets import name_score
from corridor.sim.web import Listener, check_signature, echo_trace, reply
from corridor.site.model import Site
from corridor.web import decode, error_middleware

log = logging.getLogger(__name__)


def _is_loopback(url: str) -> bool:
    host = host_port(url)[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


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
        faults: InjectedFaults | None = None,
        seed: int | None = None,
        state_file: Path | None = None,
        callback_concurrency: int = 64,
        callback_timeout: float = 10.0,
        sandbox: bool = False,
    ) -> None:
        ident = PartnerIdentity.of(site, partner_id, "receive")
        self.site, self.ident, self.partner = site, ident, ident.partner
        server_tls = ident.server_tls("required")
        self.faults = faults or InjectedFaults()
        self.random = random.Random(seed)
        self.state_file = state_file
        self.payouts = Payouts(self.partner, self.faults, self.random)
        # The sandbox's scripted wallets (corridor.sim.scenarios): account -> scenario.
        self.scenarios: dict[str, str] = {}
        if sandbox:
            from corridor.sim.scenarios import scenario_wallets
            from corridor.sim.wallets import Wallet

            for account, (holder, scenario) in scenario_wallets(self.partner.country).items():
                self.payouts.wallets.wallets[account] = Wallet(account, holder,
                                                               self.partner.currency)
                self.scenarios[account] = scenario
        self.secret = ident.secret
        self._dirty = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        eig = site.hub.listen.get("eig")
        self.eig_url = eig_url or (f"https://{eig.host}:{eig.port}" if eig else "")
        # ISO mode: a bank partner (connector iso20022) reports outcomes as pacs.002.
        self.iso = self.partner.connector == "iso20022"
        wire: dict[str, Any] = dict(
            path=iso.PATH, content_type=iso.CONTENT_TYPE, route=iso.route,
            encode=lambda cb: iso.callback_body(cb, self.payouts)) if self.iso else {}
        self.callbacks = CallbackSender(
            self.eig_url, ident.client_tls(), ident.api_key(api_key, api_key_file),
            self.secret, concurrency=callback_concurrency, timeout=callback_timeout,
            source=loopback_source(self.partner) if _is_loopback(self.eig_url) else None,
            **wire,
        )
        self.outcomes = OutcomeCallbacks(self.callbacks, self.faults, self._spawn)
        self.control = ControlApi(self.partner.id, self.faults, self.payouts, self.callbacks,
                                  self.go_down, self._spawn)
        host, port = listen or host_port(self.partner.endpoint)
        self.listener = Listener(self._app(), host, port, server_tls)

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
        app = web.Application(middlewares=[error_middleware()], client_max_size=64 * 1024)
        app.router.add_post("/v1/accounts/validate", self.validate)
        app.router.add_post("/v1/payouts", self.submit)
        app.router.add_get("/v1/payouts/{payout_id}", self.query)
        app.router.add_post("/iso20022/pacs.008", self.submit_iso)
        app.router.add_post("/iso20022/pacs.028", self.query_iso)
        app.router.add_post("/iso20022/camt.056", self.recall_iso)
        app.router.add_post("/v1/payouts/{payout_id}/recall", self.recall)
        app.router.add_routes(self.control.routes())
        app.router.add_post("/sim/payouts/{payout_id}/return", self.return_payout)
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
        self.payouts.check_method(ask.payout_method, ask.currency)
        wallet = self.payouts.wallets.get(ask.account)
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
        booked = await self.book(key, body, request.headers.get("traceparent"))
        if booked is None:
            return reply({"status": "ERROR", "reason": "sandbox: the answer is lost"}, 503)
        payout, fresh = booked
        return echo_trace(request, reply(payout.answer, 201 if fresh else 200))

    async def book(self, key: str, body: bytes,
                   traceparent: str | None = None) -> tuple[Payout, bool] | None:
        """Book a payout request (JSON) and report its outcome as the fault knobs say; None
        when the sandbox's `unknown_then_completed` account loses the answer."""
        payout, fresh = self.payouts.book(key, body)
        if self.scenarios.get(payout.request.beneficiary.account or "") == \
                "unknown_then_completed":
            # Credited, but the answer is lost, every time, and no callback comes: the hub
            # cannot tell and marks it UNKNOWN until its status query hears SUCCESS.
            self._dirty.set()
            return None
        if fresh:
            payout.traceparent = traceparent
            self._dirty.set()
            delivery = self.outcomes.report(payout)
            later = self._return_after(payout)
            if payout.credited and later is not None:
                self._spawn(self._return_later(payout.request.payout_id, later))
            if delivery is not None and self.faults.callback_first:
                # The callback reaches the hub (or is at least tried) before the answer.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(delivery.wait(), self.callbacks.timeout)
            if self.faults.hang_after_credit:
                await asyncio.sleep(self.faults.hang_seconds)
        return payout, fresh

    async def query(self, request: web.Request) -> web.Response:
        if (early := await self._enter(request, b"", signed=False)) is not None:
            return early
        payout = self.payouts.get(request.match_info["payout_id"])
        if payout is None:
            return reply({"status": "NOT_FOUND"}, 404)
        return reply(PayoutAnswer(payout_id=payout.request.payout_id,
                                  partner_reference=payout.answer.partner_reference,
                                  status=payout.status,  # type: ignore[arg-type]  # the simulator only holds the Literal's statuses
                                  reason=payout.reason))

    # -- the ISO 20022 mode (corridor.sim.iso) -----------------------------------------------

    async def submit_iso(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            if (early := await self._enter(request, body, signed=True)) is not None:
                return early
            key = request.headers.get("Idempotency-Key", "").strip()
            if not key:
                raise CorridorError("Idempotency-Key header is required",
                                   code="idempotency_key_missing")
            booked = await self.book(key, iso.payout_request(body),
                                     request.headers.get("traceparent"))
            if booked is None:
                return web.Response(status=503)  # the sandbox's lost answer
            payout, fresh = booked
        except CorridorError as exc:
            return iso.refusal(exc, "pacs.008.001.08")
        return iso.xml(iso.status_report(payout, payout.answer.status, payout.answer.reason),
                       201 if fresh else 200)

    async def query_iso(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            if (early := await self._enter(request, body, signed=True)) is not None:
                return early
            asked = iso.status_request(body)
        except CorridorError as exc:
            return iso.refusal(exc, "pacs.028.001.03")
        payout = self.payouts.get(asked or "")
        if payout is None:
            return iso.xml(iso.not_found(asked))
        return iso.xml(iso.status_report(payout, payout.status, payout.reason))

    async def recall_iso(self, request: web.Request) -> web.Response:
        """A recall as a camt.056: answered with a pacs.002 about it, ACTC (the funds come
        back as a pacs.004) or RJCT (refused), as the JSON mode's recall."""
        body = await request.read()
        try:
            if (early := await self._enter(request, body, signed=True)) is not None:
                return early
            _, payout_id, reason = iso.recall_request(body)
            if payout_id is None or self.payouts.get(payout_id) is None:
                raise NotFound("no such payout", code="payout_not_found")
        except CorridorError as exc:
            return iso.refusal(exc, "camt.056.001.09")
        if self.faults.refuse_recalls:
            return iso.xml(iso.recall_answer(payout_id, False,
                                             "the beneficiary did not agree to the return"))
        payout, why = self.payouts.give_back(payout_id, f"recalled: {reason or 'no reason'}")
        if why is not None or payout is None:
            return iso.xml(iso.recall_answer(payout_id, False, why))
        self._dirty.set()
        self.outcomes.returned(payout)
        return iso.xml(iso.recall_answer(payout_id, True))

    # -- returns and recalls -------------------------------------------------------------

    async def recall(self, request: web.Request) -> web.Response:
        """The hub forwards a send partner's recall: refused (`refuse_recalls`, or nothing to
        give back), or accepted, and the funds come back by a `RETURNED` callback."""
        body = await request.read()
        if (early := await self._enter(request, body, signed=True)) is not None:
            return early
        ask = decode(body, RecallAsk)
        payout_id = request.match_info["payout_id"]
        if ask.payout_id != payout_id:
            raise CorridorError("payout_id differs from the path", code="invalid_request")
        if self.payouts.get(payout_id) is None:
            raise NotFound("no such payout", code="payout_not_found")
        if self.faults.refuse_recalls:
            return reply(RecallAnswer(payout_id=payout_id, status="REFUSED",
                                      reason="the beneficiary did not agree to the return"))
        payout, why = self.payouts.give_back(payout_id, f"recalled: {ask.reason}")
        if why is not None or payout is None:
            return reply(RecallAnswer(payout_id=payout_id, status="REFUSED", reason=why))
        self._dirty.set()
        self.outcomes.returned(payout)  # a repeat of the recall sends it again: harmless
        return reply(RecallAnswer(payout_id=payout_id, status="ACCEPTED"))

    def _return_after(self, payout: Payout) -> float | None:
        """Seconds after which a credited payout is given back: the `return_after_ms` knob
        for every payout, or the sandbox's returning wallet (corridor.sim.scenarios)."""
        from corridor.sim.scenarios import RETURN_AFTER_S, RETURNED_LATER

        if self.faults.return_after_ms:
            return self.faults.return_after_ms / 1000
        if self.scenarios.get(payout.request.beneficiary.account or "") == RETURNED_LATER:
            return RETURN_AFTER_S
        return None

    async def _return_later(self, payout_id: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._give_back(payout_id, "beneficiary account closed")

    def _give_back(self, payout_id: str, reason: str) -> str:
        payout, why = self.payouts.give_back(payout_id, reason)
        if why is not None or payout is None:
            raise Conflict(f"payout {payout_id} cannot be given back: {why}",
                           code="cannot_return")
        self._dirty.set()
        self.outcomes.returned(payout)
        assert payout.return_reference is not None
        return payout.return_reference

    async def return_payout(self, request: web.Request) -> web.Response:
        """Control: give a credited payout back now, and tell the hub (`RETURNED`)."""
        ask = decode(await request.read() or b"{}", dict[str, str])
        reference = self._give_back(request.match_info["payout_id"],
                                    ask.get("reason") or "beneficiary account closed")
        return reply({"payout_id": request.match_info["payout_id"],
                      "return_reference": reference})

    # -- the optional state file ---------------------------------------------------------

    async def _flush_state(self) -> None:
        """Write the state file at most every 100 ms while payouts arrive."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._write_state()
            await asyncio.sleep(0.1)

    def _write_state(self) -> None:
        assert self.state_file is not None
        state = {"partner": self.partner.id, **self.payouts.state()}
        write_atomic(self.state_file, msgspec.json.encode(state), 0o600)

    def _load_state(self) -> None:
        assert self.state_file is not None
        try:
            state = msgspec.json.decode(self.state_file.read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise SimError(f"cannot read state file {self.state_file}: {exc}") from None
        self.payouts.restore(state)
