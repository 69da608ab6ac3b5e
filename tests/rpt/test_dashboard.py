"""The operator dashboard in real headless Chromium, reached over mTLS with an operator's
certificate: the page loads, its charts show the history just generated, and a screenshot is
kept in test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rpt.server import get, running_rpt
from tests.support import REPO, copy_site, need_tool

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def dashboard(tmp_path: Path, recent_history):  # type: ignore[no-untyped-def]
    from corridor.rpt.operators import issue_operator
    from corridor.rpt.store import connect, store_path
    from tests.rpt.rig import fill, make_pki

    site_dir = copy_site(tmp_path)
    make_pki(site_dir)
    site, history = recent_history
    data = tmp_path / "var"
    con = connect(store_path(site, data))
    fill(con, history)
    con.close()
    (data / "net").mkdir(parents=True)
    (data / "net" / "tunnels.log").write_text(
        '{"time": "2026-11-25T08:00:00Z", "partner": "payfast", "from": "unknown", '
        '"to": "ike-only", "label": "IKE up, IPsec SA down"}\n')
    crt, key, _ = issue_operator(site_dir, "alice")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    with running_rpt(site_dir, data, "--no-feed") as url:
        yield site_dir, url, crt, key, history


def test_dashboard_shows_the_generated_history(dashboard) -> None:  # type: ignore[no-untyped-def]
    need_tool("chromium")
    from playwright.sync_api import sync_playwright

    site, url, crt, key, _history = dashboard
    status, _, body = get(site, "rpt", f"{url}/api/dashboard")
    data = json.loads(body)
    assert status == 200
    done = sum(p["completed"] for p in data["series"]["points"])
    assert done > 1500  # the last 24 hours of the history: about 1,700 completed

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            ctx = browser.new_context(
                viewport={"width": 1400, "height": 1300}, ignore_https_errors=True,
                client_certificates=[{"origin": url, "certPath": str(crt),
                                      "keyPath": str(key)}],
            )
            page = ctx.new_page()
            page.goto(url + "/")
            page.wait_for_selector("body[data-loaded]", timeout=15000)
            kpis = page.inner_text("#kpis")
            assert f"{done:,}" in kpis and "completed" in kpis
            bars = page.locator("#volume rect")
            assert bars.count() == 2 * len(data["series"]["points"])
            shown = sum(int(v) for v in page.eval_on_selector_all(
                "#volume rect[fill='#2a9d8f']", "els => els.map(e => e.dataset.value)"))
            assert shown == done
            assert page.locator("#success polyline").count() == 1
            assert page.locator("#latency polyline").count() == 2
            rejections = page.inner_text("#rejections")
            assert "insufficient funds" in rejections and "account closed" in rejections
            positions = page.inner_text("#positions")
            assert "hub pays" in positions and "float debited" in positions
            assert "IKE up, IPsec SA down" in page.inner_text("#tunnels")
            assert "operator-alice" in page.inner_text("#certs")
            out = REPO / "test-artifacts"
            out.mkdir(exist_ok=True)
            page.screenshot(path=str(out / "rpt-dashboard.png"), full_page=True)
            # The page refreshes itself: a newer reading replaces the first one.
            first = page.get_attribute("body", "data-loaded")
            page.wait_for_function(f"document.body.dataset.loaded !== {first!r}",
                                   timeout=15000)
            # Without an operator certificate the page is not served at all.
            bare = browser.new_context(ignore_https_errors=True).new_page()
            with pytest.raises(Exception, match="ERR_"):
                bare.goto(url + "/")
        finally:
            browser.close()
