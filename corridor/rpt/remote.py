"""Asking the running RPT server, for the operator commands: DuckDB lets one process
write the store, so while `corridor serve rpt` holds it the commands ask the server over
its listener with RPT's own client certificate (CN=rpt), as an operator would."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.parse

from corridor.core.errors import CorridorError, Unavailable
from corridor.httppool import Pool, Response, TransportError
from corridor.pki.tls import client_context
from corridor.site.model import Site


async def _get(base: str, target: str, context: ssl.SSLContext) -> Response:
    # A report covers up to 366 days: no bound on the body from the hub's own server.
    pool = Pool(base, context, 1, timeout=120, max_body=None)
    try:
        return await pool.request("GET", target, {})
    finally:
        pool.close()


def ask(site: Site, path: str, params: dict[str, str | None]) -> bytes:
    listen = site.hub.listen["rpt"]
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    base = f"https://{listen.host}:{listen.port}"
    pki = site.root / "pki"
    ctx = client_context(pki / "hub-ca.crt", pki / "hub" / "rpt.crt", pki / "hub" / "rpt.key")
    try:
        resp = asyncio.run(_get(base, f"{path}?{query}", ctx))
    except TransportError as exc:
        raise Unavailable(f"cannot reach the running RPT server at {base}{path}: {exc}",
                          code="rpt_unavailable") from None
    if 200 <= resp.status < 300:
        return resp.body
    try:
        problem = json.loads(resp.body)
        err = CorridorError(str(problem.get("detail")), code=str(problem.get("code")))
    except ValueError:
        err = CorridorError(f"RPT answered {resp.status}", code="rpt_error")
    err.status = resp.status
    raise err
