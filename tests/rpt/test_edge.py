"""RPT's answers to a wrong method and to a failure inside a handler: problem+json with a
stable code, as every other server of the hub answers them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from corridor.pki.layout import Layout
from corridor.pki.tls import hub_listener
from corridor.rpt.server import Rpt
from corridor.rpt.store import connect, store_path
from corridor.site import load_site
from tests.edge import ask


@pytest.fixture
def rpt(pki_site: Path, tmp_path: Path) -> Rpt:
    site = load_site(pki_site)
    con = connect(store_path(site, tmp_path / "var"))
    return Rpt(site, con, tmp_path / "var", contexts=hub_listener(Layout(site.root), "rpt"))


def test_a_wrong_method_is_405_method_not_allowed(rpt: Rpt) -> None:
    got = ask(rpt.app(), "POST", "/healthz")
    assert (got.status, got.content_type) == (405, "application/problem+json")
    assert json.loads(got.body)["code"] == "method_not_allowed"


def test_a_failing_handler_is_500_internal_error_without_a_trace(rpt: Rpt) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("duckdb: table secret_rows is locked")

    rpt.healthz = broken  # type: ignore[method-assign]
    got = ask(rpt.app(), "GET", "/healthz")
    assert (got.status, got.content_type) == (500, "application/problem+json")
    assert json.loads(got.body)["code"] == "internal_error"
    assert b"secret_rows" not in got.body and b"Traceback" not in got.body
