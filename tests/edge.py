"""Asking an aiohttp application one question over a real local socket (plain HTTP): the
tests of the HTTP edge (`corridor.web`) as each server mounts it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from aiohttp import web


@dataclass
class Reply:
    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes


async def _ask(app: web.Application, method: str, path: str, body: bytes | None) -> Reply:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session, session.request(
                method, f"http://127.0.0.1:{port}{path}", data=body) as resp:
            return Reply(resp.status, resp.content_type, dict(resp.headers), await resp.read())
    finally:
        await runner.cleanup()


def ask(app: web.Application, method: str, path: str, body: bytes | None = None) -> Reply:
    """Serve `app` on a free port, make one request and return its answer."""
    return asyncio.run(_ask(app, method, path, body))
