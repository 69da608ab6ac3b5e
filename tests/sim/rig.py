"""What the simulator tests share: a site with real certificates and secrets made by
`corridor.pki.issue`, an event loop on a thread (so tests stay plain functions that poll
with `wait_for`), a client that plays the hub (TXN's certificate, signed requests), a
stand-in for EIG's receiver-callback endpoint (a small aiohttp mTLS server), the `Rig` a
test gets with all of them around a running simulator, and payout bodies as the hub sends
them."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from corridor.core import signature
from corridor.core.ids import new_id
from corridor.pki.credentials import hash_api_key
from corridor.pki.files import write_secret
from corridor.pki.issue import create_ca, issue, write_issued
from corridor.pki.layout import Layout
from corridor.pki.tls import client_context, server_context
from corridor.sim.identity import read_signing_secret
from corridor.sim.receive import ReceivePartnerSim
from corridor.site import Site, load_site

T = TypeVar("T")
LOCAL = ("localhost", "127.0.0.1")
KNOWN = "254700000001"  # JOHN KAMAU in the demo wallet book


def make_pki(site_dir: Path) -> tuple[Site, dict[str, str]]:
    """The PKI layout and secrets `corridor pki bootstrap` would make, for the demo's
    PayFast and MobiCash; returns the site and their API keys."""
    layout = Layout(site_dir)
    hub_ca, partner_ca = create_ca("Test Hub CA"), create_ca("Test Partner CA")
    write_issued(hub_ca, *layout.hub_ca)
    write_issued(partner_ca, *layout.partner_ca)
    for name in ("eig", "txn"):
        write_issued(issue(hub_ca, name, server_names=LOCAL, client=True, server=True),
                     *layout.hub(name))
    keys = {}
    for pid in ("payfast", "mobicash"):
        write_issued(issue(partner_ca, pid, client=True), *layout.partner(pid))
        keys[pid] = "cor_test_" + secrets.token_hex(16)
        write_secret(site_dir / f"secrets/{pid}.apikey.hash", hash_api_key(keys[pid]).encode())
        write_secret(site_dir / f"secrets/{pid}.hmac", secrets.token_hex(32).encode() + b"\n")
    write_issued(issue(partner_ca, "mobicash-server", server_names=LOCAL, server=True),
                 *layout.partner_server("mobicash"))
    return load_site(site_dir), keys


class LoopThread:
    """An asyncio loop on a daemon thread; `run(coro)` waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Answer:
    status: int
    body: Any
    content_type: str


class HubClient:
    """Plays TXN towards a partner server: TXN's client certificate, partner-CA trust,
    requests signed with the partner's secret."""

    def __init__(self, site: Site, base: str, partner_id: str = "mobicash") -> None:
        layout = Layout(site.root)
        self.tls = client_context(layout.partner_ca[0], *layout.hub("txn"))
        self.base = base
        self.secret = read_signing_secret(site.partner(partner_id).callback_secret_file)
        self.session: aiohttp.ClientSession | None = None

    async def call(self, method: str, path: str, body: Any = None, *, key: str | None = None,
                   sign: bool = True, secret: bytes | None = None,
                   timeout: float = 10.0) -> Answer:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.tls))
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        if sign:
            headers[signature.HEADER] = signature.sign(secret or self.secret, data,
                                                       int(time.time()))
        async with self.session.request(method, self.base + path, data=data or None,
                                        headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.read()
            ctype = resp.headers.get("Content-Type", "")
            return Answer(resp.status, json.loads(raw) if raw else None, ctype)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


@dataclass
class StandInEig:
    """EIG's `POST /v1/callbacks/receiver`, as far as a receive partner can tell: partner-CA
    client certificates, the partner's API key, a valid signature. It can refuse the first
    `fail_first` attempts with 503 to prove the sender retries."""

    site: Site
    api_key: str
    partner_id: str = "mobicash"
    fail_first: int = 0
    ack_delay: float = 0.0  # seconds before answering an accepted callback
    attempts: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> str:
        layout = Layout(self.site.root)
        tls = server_context(*layout.hub("eig"), client_ca=layout.partner_ca[0])
        secret = read_signing_secret(self.site.partner(self.partner_id).callback_secret_file)

        async def receive(request: web.Request) -> web.Response:
            self.attempts += 1
            body = await request.read()
            self.headers.append(dict(request.headers))
            if self.attempts <= self.fail_first:
                return web.json_response({"code": "unavailable"}, status=503)
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return web.json_response({"code": "bad_api_key"}, status=401)
            signature.verify(secret, request.headers.get(signature.HEADER), body,
                             int(time.time()))
            payload = json.loads(body)
            payload["idempotency_key"] = request.headers.get("Idempotency-Key")
            self.accepted.append(payload)
            if self.ack_delay:
                await asyncio.sleep(self.ack_delay)
            return web.json_response({"transfer_id": payload["transfer_id"],
                                      "status": "COMPLETED"})

        app = web.Application()
        app.router.add_post("/v1/callbacks/receiver", receive)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return f"https://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def for_transfer(self, transfer_id: str) -> list[dict[str, Any]]:
        return [c for c in self.accepted if c["transfer_id"] == transfer_id]


@dataclass
class Rig:
    """A running MobiCash simulator, the hub's client for it and the stand-in EIG its
    callbacks go to (the `rig` fixture)."""

    site: Site
    keys: dict[str, str]
    loop: LoopThread
    eig: StandInEig
    sim: ReceivePartnerSim
    hub: HubClient
    state_file: Path

    def call(self, method: str, path: str, body: object = None, **kw: Any) -> Answer:
        """One request to the simulator as the hub makes it, waited for."""
        return self.loop.run(self.hub.call(method, path, body, **kw))


def payout(account: str = KNOWN, amount: str = "1518.08", pid: str | None = None) -> dict:
    """A payout request body as the hub sends it."""
    return {
        "payout_id": pid or new_id(), "amount": amount, "currency": "KES",
        "payout_method": "wallet",
        "beneficiary": {"name": "John Kamau", "account": account},
        "sender": {"name": "Priya Sharma", "country": "IN"}, "purpose": "family support",
    }


def wallet(rig: Rig, account: str = KNOWN) -> dict:
    """The simulator's view of one wallet (control API)."""
    answer = rig.call("GET", f"/sim/wallets/{account}", sign=False)
    assert answer.status == 200
    return answer.body
