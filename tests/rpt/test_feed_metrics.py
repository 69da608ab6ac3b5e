"""RPT's `/metrics`: how far its feed lags behind TXN, for the alert rules."""

from __future__ import annotations

from pathlib import Path

from corridor.site.edit import relocate
from tests.rpt.server import running_rpt, scrape
from tests.support import free_port, wait_for


def test_the_lag_grows_while_txn_cannot_be_reached(pki_site: Path, tmp_path: Path) -> None:
    relocate(pki_site, {"txn": free_port()})  # nothing listens there
    with running_rpt(pki_site, tmp_path / "var") as url:
        first = wait_for(lambda: (m := scrape(pki_site, url)).get(
            'corridor_rpt_feed_state{state="unreachable"}') and m, timeout=20,
            what="RPT finding TXN unreachable")
        later = wait_for(lambda: (m := scrape(pki_site, url))["corridor_rpt_feed_lag_seconds"]
                         >= first["corridor_rpt_feed_lag_seconds"] + 1 and m, timeout=20,
                         what="the lag growing")
        assert later["corridor_rpt_feed_cursor"] == 0
        assert later["corridor_rpt_feed_events_total"] == 0
