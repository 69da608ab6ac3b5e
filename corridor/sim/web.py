"""Small HTTP pieces both simulators share (problem+json answers and the body decoder are
`corridor.web`'s): JSON replies, checking a Corridor-Signature and running an aiohttp app on a
TLS listener that can be closed and reopened (a partner going down and coming back)."""

from __future__ import annotations

import ssl
import time
from typing import Any

import msgspec
from aiohttp import web

from corridor.core import signature

_encoder = msgspec.json.Encoder()


def reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(body), status=status,
                        content_type="application/json")


def echo_trace(request: web.Request, response: web.Response) -> web.Response:
    """Answer with the caller's W3C `traceparent`, as a partner that takes part in the
    hub's traces does (the simulators record no spans of their own)."""
    traceparent = request.headers.get("traceparent")
    if traceparent is not None:
        response.headers["traceparent"] = traceparent
    return response


def check_signature(secret: bytes, request: web.Request, body: bytes) -> None:
    """Raise Unauthenticated (`bad_signature`) unless the request is signed recently."""
    signature.verify(secret, request.headers.get(signature.HEADER), body, int(time.time()))


class Listener:
    """An aiohttp app served over TLS on one address, which can go down (listener and open
    connections closed, so clients see refused connections) and come back on the same
    port."""

    def __init__(self, app: web.Application, host: str, port: int, tls: ssl.SSLContext) -> None:
        self.app, self.host, self.port, self.tls = app, host, port, tls
        self._runner: web.AppRunner | None = None

    @property
    def up(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        if self._runner is not None:
            return
        # A short shutdown timeout: going down is abrupt, hung answers are dropped.
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                               shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.tls,
                           reuse_address=True, backlog=1024)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        if self.port == 0:  # an ephemeral port: keep it for the way back up
            self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
