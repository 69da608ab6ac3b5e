"""Calling EIG as a partner would, from its own certificate, source address and API key:
any method, JSON or raw bodies, multipart forms."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from corridor.core.ids import new_id
from corridor.sim.identity import PartnerIdentity, loopback_source
from corridor.sim.world import World


def call(world: World, partner_id: str, method: str, path: str, *, body: Any = None,
         form: aiohttp.FormData | None = None, role: str = "send"
         ) -> tuple[int, Any, dict[str, str]]:
    """One partner call on EIG: (status, decoded JSON answer, answer headers)."""
    ident = PartnerIdentity.of(world.site, partner_id, role)
    eig = world.site.hub.listen["eig"]

    async def go() -> tuple[int, Any, dict[str, str]]:
        source = loopback_source(ident.partner)
        connector = aiohttp.TCPConnector(ssl=ident.client_tls(),
                                         local_addr=(source, 0) if source else None)
        headers = {"Authorization": f"Bearer {ident.api_key()}"}
        data: Any = form
        if method == "POST":
            headers["Idempotency-Key"] = new_id()
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        async with aiohttp.ClientSession(connector=connector) as session, session.request(
                method, f"https://{eig.host}:{eig.port}{path}", data=data,
                headers=headers) as resp:
            raw = await resp.read()
            return resp.status, json.loads(raw) if raw else None, dict(resp.headers)

    return asyncio.run(go())
