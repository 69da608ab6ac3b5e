"""A stand-in for EIG's partner API as a send partner sees it, enough to drive
`SendDriver`: it checks the partner's client certificate (partner CA) and API key, answers
quotes and transfers, and then POSTs a signed sender callback to the partner's callback
server with TXN's client certificate, as the hub does on a final status."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from corridor.core import signature
from corridor.core.ids import new_id
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client_to_partner, partner_listener
from corridor.sim.identity import read_signing_secret
from corridor.site import Site


@dataclass
class StandInGateway:
    site: Site
    api_key: str
    callback_url: str
    partner_id: str = "payfast"
    transfers: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    session: aiohttp.ClientSession | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> str:
        layout = Layout(self.site.root)
        tls = partner_listener(layout).current
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            ssl=hub_client_to_partner(layout)))
        secret = read_signing_secret(self.site.partner(self.partner_id).callback_secret_file)

        def authorised(request: web.Request) -> bool:
            cert = request.transport.get_extra_info("ssl_object").getpeercert()
            cn = dict(x[0] for x in cert["subject"]).get("commonName")
            key_ok = request.headers.get("Authorization") == f"Bearer {self.api_key}"
            return cn == self.partner_id and key_ok and "Idempotency-Key" in request.headers

        async def quote(request: web.Request) -> web.Response:
            if not authorised(request):
                return web.json_response({"code": "unauthenticated"}, status=401)
            ask = await request.json()
            return web.json_response({
                "id": new_id(), "send_amount": ask["send_amount"], "send_currency": "INR",
                "receive_amount": "1518.08", "receive_currency": ask["receive_currency"],
                "fee": "55.00", "fee_currency": "INR", "total": "1055.00", "rate": "1.5181",
                "destination_country": ask["destination_country"],
                "payout_method": ask["payout_method"], "created_at": "2026-01-01T00:00:00Z",
                "expires_at": "2026-01-01T00:10:00Z"}, status=201)

        async def transfer(request: web.Request) -> web.Response:
            if not authorised(request):
                return web.json_response({"code": "unauthenticated"}, status=401)
            ask = await request.json()
            self.transfers.append(ask)
            body = {
                "id": new_id(), "reference": ask["reference"], "status": "SUBMITTED",
                "quote_id": ask["quote_id"], "send_amount": "1000.00", "send_currency": "INR",
                "receive_amount": "1518.08", "receive_currency": "KES", "fee": "55.00",
                "rate": "1.5181", "destination_country": "KE", "payout_method": "wallet",
                "beneficiary_name": ask["beneficiary"]["name"],
                "beneficiary_account": ask["beneficiary"]["account"],
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
            task = asyncio.create_task(self._callback(secret, {**body, "status": "COMPLETED"}))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return web.json_response(body, status=201)

        app = web.Application()
        app.router.add_post("/v1/quotes", quote)
        app.router.add_post("/v1/transfers", transfer)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=tls).start()
        return f"https://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _callback(self, secret: bytes, transfer: dict[str, Any]) -> None:
        assert self.session is not None
        data = json.dumps({"event_id": new_id(), "transfer": transfer}).encode()
        headers = {signature.HEADER: signature.sign(secret, data, int(time.time())),
                   "Content-Type": "application/json"}
        async with self.session.post(self.callback_url, data=data, headers=headers) as resp:
            assert resp.status == 200

    async def stop(self) -> None:
        for task in list(self.tasks):
            await task
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()
