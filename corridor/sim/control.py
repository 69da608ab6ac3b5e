"""The receive-partner simulator's control API under `/sim/`: its health, the fault knobs
read and switched at runtime, going down for a while, and a look at its books (a wallet,
a payout, the callbacks sent)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from corridor.core.errors import InvalidInput, NotFound
from corridor.core.money import format_minor
from corridor.sim.callbacks import CallbackSender
from corridor.sim.faults import FaultError, InjectedFaults
from corridor.sim.outcomes import Spawn
from corridor.sim.payouts import Payouts
from corridor.sim.web import reply
from corridor.web import decode


class ControlApi:
    def __init__(self, partner_id: str, faults: InjectedFaults, payouts: Payouts,
                 callbacks: CallbackSender, go_down: Callable[[float], Awaitable[None]],
                 spawn: Spawn) -> None:
        self.partner_id, self.faults, self.payouts = partner_id, faults, payouts
        self.callbacks, self.go_down, self._spawn = callbacks, go_down, spawn

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/sim/health", self.health),
            web.get("/sim/faults", self.get_faults),
            web.patch("/sim/faults", self.set_faults),
            web.post("/sim/down", self.down),
            web.get("/sim/wallets/{account}", self.wallet),
            web.get("/sim/payouts/{payout_id}", self.payout_record),
            web.get("/sim/callbacks", self.callback_log),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return reply({"status": "ok", "partner": self.partner_id,
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
        wallet = self.payouts.wallets.get(request.match_info["account"])
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
        keys = self.payouts.keys_of(payout.request.payout_id)
        return reply({"payout_id": payout.request.payout_id, "status": payout.status,
                      "reason": payout.reason, "credited": payout.credited,
                      "partner_reference": payout.answer.partner_reference,
                      "received_at": payout.received_at, "idempotency_keys": keys,
                      "return_reference": payout.return_reference,
                      "return_reason": payout.return_reason})

    async def callback_log(self, request: web.Request) -> web.Response:
        wanted = request.query.get("transfer_id")
        return reply([d.as_dict() for d in self.callbacks.deliveries
                      if wanted is None or d.callback.transfer_id == wanted])
