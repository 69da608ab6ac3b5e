"""Asking the running RPT server, for the operator commands: DuckDB lets one process
write the store, so while `corridor serve rpt` holds it the commands ask the server over
its listener with RPT's own client certificate (CN=rpt), as an operator would."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from corridor.core.errors import CorridorError, Unavailable
from corridor.pki.tls import client_context
from corridor.site.model import Site


def ask(site: Site, path: str, params: dict[str, str | None]) -> bytes:
    listen = site.hub.listen["rpt"]
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    url = f"https://{listen.host}:{listen.port}{path}?{query}"
    pki = site.root / "pki"
    ctx = client_context(pki / "hub-ca.crt", pki / "hub" / "rpt.crt", pki / "hub" / "rpt.key")
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=120) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        try:
            problem = json.loads(exc.read())
            err = CorridorError(str(problem.get("detail")), code=str(problem.get("code")))
        except ValueError:
            err = CorridorError(f"RPT answered {exc.code}", code="rpt_error")
        err.status = exc.code
        raise err from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unavailable(f"cannot reach the running RPT server at {url}: {exc}",
                          code="rpt_unavailable") from None
