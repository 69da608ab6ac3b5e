"""`corridor sim bench`: how fast the receive-partner simulator itself goes, so that the
end-to-end figures are known not to be capped by it. One process plays the hub on both
sides: it submits signed payouts over kept-alive mTLS connections and acknowledges the
simulator's signed receiver callbacks on a stand-in callback endpoint. Prints one JSON
object."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from aiohttp import web

from corridor.core import signature
from corridor.core.ids import new_id
from corridor.httppool import Pool
from corridor.pki.layout import Layout
from corridor.pki.tls import server_context
from corridor.ports import free_port
from corridor.sim.identity import hub_client_tls
from corridor.sim.receive import ReceivePartnerSim
from corridor.sim.wallets import DEMO_WALLETS, wallet_account
from corridor.site.model import Site


async def _ack_server(site: Site, secret: bytes, acked: list[int]) -> web.AppRunner:
    """Acknowledge receiver callbacks after checking their signature, as EIG would."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        signature.verify(secret, request.headers.get(signature.HEADER), body, int(time.time()))
        acked[0] += 1
        return web.Response(body=b'{"status":"COMPLETED"}', content_type="application/json")

    layout = Layout(site.root)
    app = web.Application()
    app.router.add_post("/v1/callbacks/receiver", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = server_context(*layout.hub("eig"), client_ca=layout.partner_ca[0])
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
    return runner


async def run_bench(site: Site, partner_id: str, count: int, concurrency: int) -> dict[str, Any]:
    acked = [0]
    sim = ReceivePartnerSim(site, partner_id, listen=("127.0.0.1", free_port()),
                            eig_url="https://127.0.0.1:1", api_key="bench")
    runner = await _ack_server(site, sim.secret, acked)
    sim.callbacks.url = f"https://127.0.0.1:{runner.addresses[0][1]}/v1/callbacks/receiver"
    await sim.start()
    encode = msgspec.json.Encoder().encode
    pool = Pool(sim.url, hub_client_tls(site), concurrency, timeout=300)
    todo = iter(range(count))
    statuses: dict[int, int] = {}

    async def worker() -> None:
        for i in todo:
            pid = new_id()
            body = encode({
                "payout_id": pid, "amount": "1518.08", "currency": sim.partner.currency,
                "payout_method": sim.partner.payout_methods[0],
                "beneficiary": {"name": "John Kamau",
                                "account": wallet_account(sim.partner.country,
                                                          i % DEMO_WALLETS + 1)},
                "sender": {"name": "Priya Sharma", "country": "IN"}})
            headers = {"Idempotency-Key": pid, "Content-Type": "application/json",
                       signature.HEADER: signature.sign(sim.secret, body, int(time.time()))}
            resp = await pool.request("POST", "/v1/payouts", headers, body)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        submitted = time.perf_counter() - started
        deadline = time.monotonic() + 60
        while acked[0] < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        drained = time.perf_counter() - started
    finally:
        pool.close()
        await sim.stop()
        await runner.cleanup()
    return {
        "bench": "sim-receive-partner",
        "payouts": count,
        "concurrency": concurrency,
        "answers": {str(k): v for k, v in sorted(statuses.items())},
        "submit_s": round(submitted, 3),
        "payouts_per_s": round(count / submitted, 1),
        "callbacks_acknowledged": acked[0],
        "all_done_s": round(drained, 3),
        "payouts_with_callbacks_per_s": round(acked[0] / drained, 1),
    }
