"""A small stand-in for TXN's internal API (mutual TLS, hub CA, the internal paths), used
until the gateway's tests can drive the real TXN server. It records every call so tests
can assert what was, and what was not, forwarded."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from aiohttp import web

from corridor.pki.layout import Layout
from corridor.pki.tls import server_context


@dataclass
class Seen:
    method: str
    path: str
    partner: str | None
    idempotency_key: str | None
    body: bytes
    headers: dict[str, str]


@dataclass
class StandIn:
    site: Path
    port: int
    calls: list[Seen] = field(default_factory=list)
    _idem: dict[tuple[str, str], tuple[str, int, bytes]] = field(default_factory=dict)
    _transfers: dict[str, dict] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        partner = request.headers.get("Corridor-Partner")
        key = request.headers.get("Idempotency-Key")
        self.calls.append(Seen(request.method, request.path_qs, partner, key, body,
                               dict(request.headers)))
        cn = request.transport.get_extra_info("peercert")["subject"]
        if (("commonName", "eig"),) not in cn:
            return _problem(403, "forbidden")
        if request.method == "POST" and key is not None:
            digest = hashlib.sha256(request.path.encode() + body).hexdigest()
            seen = self._idem.get((partner or "", key))
            if seen is not None:
                if seen[0] != digest:
                    return _problem(409, "idempotency_conflict")
                return web.Response(status=seen[1], body=seen[2], content_type="application/json")
        status, payload = self.answer(request, partner or "", body)
        raw = msgspec.json.encode(payload)
        if request.method == "POST" and key is not None and status < 400:
            self._idem[(partner or "", key)] = (digest, status, raw)
        ctype = "application/problem+json" if status >= 400 else "application/json"
        return web.Response(status=status, body=raw, content_type=ctype)

    def answer(self, request: web.Request, partner: str, body: bytes) -> tuple[int, dict]:
        path = request.path.removeprefix("/internal")
        now = "2026-11-25T10:00:00.000Z"
        if path == "/v1/quotes":
            q = msgspec.json.decode(body)
            return 201, {
                "id": f"q-{len(self.calls)}", "send_amount": q.get("send_amount") or "100.00",
                "send_currency": q["send_currency"], "receive_amount": "150.00",
                "receive_currency": q["receive_currency"], "fee": "50.00",
                "fee_currency": q["send_currency"], "total": "150.00", "rate": "1.5",
                "destination_country": q["destination_country"],
                "payout_method": q["payout_method"], "created_at": now, "expires_at": now}
        if path == "/v1/accounts/validate":
            return 200, {"account": msgspec.json.decode(body)["account"], "valid": True,
                         "holder_name": "Jane Doe"}
        if path == "/v1/transfers" and request.method == "POST":
            t = msgspec.json.decode(body)
            tid = f"t-{len(self._transfers) + 1}"
            transfer = {
                "id": tid, "reference": t["reference"], "status": "RECEIVED",
                "quote_id": t["quote_id"], "send_amount": "100.00", "send_currency": "INR",
                "receive_amount": "150.00", "receive_currency": "KES", "fee": "50.00",
                "rate": "1.5", "destination_country": "KE", "payout_method": "wallet",
                "beneficiary_name": t["beneficiary"]["name"],
                "beneficiary_account": t["beneficiary"]["account"],
                "created_at": now, "updated_at": now}
            self._transfers[tid] = {"partner": partner, "transfer": transfer}
            return 201, transfer
        if path == "/v1/transfers":
            items = [v["transfer"] for v in self._transfers.values() if v["partner"] == partner]
            return 200, {"items": items, "next_cursor": None}
        if path.startswith("/v1/transfers/"):
            tid = path.split("/")[3]
            found = self._transfers.get(tid)
            if found is None or found["partner"] != partner:
                return 404, _problem_body(404, "transfer_not_found")
            return 200, found["transfer"]
        if path == "/v1/callbacks/receiver":
            cb = msgspec.json.decode(body)
            return 200, {"transfer_id": cb["transfer_id"], "status": "COMPLETED"}
        return 404, _problem_body(404, "not_found")

    def start(self) -> None:
        layout = Layout(self.site)
        cert, key = layout.hub("txn")
        ctx = server_context(cert, key, client_ca=layout.hub_ca[0])
        loop = asyncio.new_event_loop()
        started = threading.Event()

        async def main() -> None:
            runner = web.AppRunner(self.app(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=ctx).start()
            started.set()
            await asyncio.Event().wait()

        self._thread = threading.Thread(target=loop.run_until_complete, args=(main(),),
                                        daemon=True)
        self._thread.start()
        assert started.wait(10)

    def forwarded(self, path_part: str) -> list[Seen]:
        return [c for c in self.calls if path_part in c.path]


def _problem_body(status: int, code: str) -> dict:
    return {"type": f"https://corridor.example/problems/{code}", "title": code,
            "status": status, "code": code, "detail": code}


def _problem(status: int, code: str) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(_problem_body(status, code)),
                        content_type="application/problem+json")
