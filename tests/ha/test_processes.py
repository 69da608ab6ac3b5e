"""Several TXN and EIG processes on one PostgreSQL store, as on separate hosts: each TXN
answers, a quote or idempotency key used on one is seen by the other, the event feed reads
the same in commit order through both, and under partner load one TXN SIGKILLed and one
EIG stopped lose nothing and pay nothing twice."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corridor.deploy.harig import TXN_HOSTS, HaHub, Load, audit
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client
from corridor.store import open_store
from tests.support import pg_schema, wait_for
from tests.txn.rig import quote_body, transfer_body


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HaHub]:
    with pg_schema("ha_procs") as dsn:
        h = HaHub(tmp_path_factory.mktemp("hub"), dsn, eigs=2)
        h.start()
        try:
            yield h
        finally:
            h.stop()


def call(hub: HaHub, address: str, method: str, path: str, body: bytes | None = None,
         key: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """One call to the TXN process at `address`, as EIG makes it."""
    assert hub.world is not None
    site = hub.world.site
    conn = http.client.HTTPSConnection(address, site.hub.listen["txn"].port, timeout=10,
                                       context=hub_client(Layout(site.root), "eig"))
    headers = {"Corridor-Partner": "payfast", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null"), dict(resp.getheaders())
    finally:
        conn.close()


def test_a_quote_and_a_key_used_on_one_txn_are_seen_by_the_other(hub: HaHub) -> None:
    (_, a), (_, b) = TXN_HOSTS
    status, quote, _ = call(hub, a, "POST", "/internal/v1/quotes", quote_body("250.00"),
                            key="shared-q")
    assert status == 201
    # The same key on the other process: the original answer, nothing priced twice.
    status, again, _ = call(hub, b, "POST", "/internal/v1/quotes",
                                  quote_body("250.00"), key="shared-q")
    assert (status, again["id"]) == (201, quote["id"])
    status, transfer, _ = call(hub, b, "POST", "/internal/v1/transfers",
                               transfer_body(quote["id"], "shared-ref"), key="shared-t")
    assert status == 201, transfer
    status, seen, _ = call(hub, a, "GET", f"/internal/v1/transfers/{transfer['id']}")
    assert status == 200 and seen["id"] == transfer["id"]


def test_the_event_feed_reads_alike_in_commit_order_through_both(hub: HaHub) -> None:
    (_, a), (_, b) = TXN_HOSTS
    for n in range(5):  # events committed through both processes
        host = (a, b)[n % 2]
        status, q, _ = call(hub, host, "POST", "/internal/v1/quotes", quote_body("10.00"),
                            key=f"feed-q{n}")
        status, _, _ = call(hub, host, "POST", "/internal/v1/transfers",
                            transfer_body(q["id"], f"feed-{n}"), key=f"feed-t{n}")
        assert status == 201
    feeds = []
    for host in (a, b):
        status, page, _ = call(hub, host, "GET", "/internal/v1/events?after=0&limit=5000")
        assert status == 200
        feeds.append([e["seq"] for e in page["events"]])
    assert feeds[0] == sorted(set(feeds[0])) and len(feeds[0]) >= 10
    common = min(len(feeds[0]), len(feeds[1]))
    assert feeds[0][:common] == feeds[1][:common]


def test_one_txn_killed_and_one_eig_stopped_under_load_lose_nothing(
        hub: HaHub, tmp_path: Path) -> None:
    assert hub.world is not None
    load = Load(hub.world.site_dir, hub.eig_urls, clients=8).start()
    try:
        wait_for(lambda: len(load.tally.acked) >= 40, timeout=60, what="transfers")
        hub.service("txn").kill()  # SIGKILL, as a host dying
        killed = time.monotonic()
        before = len(load.tally.acked)
        wait_for(lambda: len(load.tally.acked) >= before + 40, timeout=60,
                 what="transfers through the other TXN")
        hub.start_txn("txn").wait_ready(60)
        hub.service("eig1").stop()
        stopped = time.monotonic()
        before = len(load.tally.acked)
        wait_for(lambda: len(load.tally.acked) >= before + 40, timeout=60,
                 what="transfers through the other EIG")
    finally:
        tally = load.stop()
    # The partner waited at most a few seconds each time.
    assert tally.longest_gap(killed, killed + 5) < 10
    assert tally.longest_gap(stopped, stopped + 5) < 10
    assert not tally.refused, tally.refused
    conn = open_store(hub.store, tmp_path)
    try:
        def settled() -> bool:
            return not conn.query("SELECT 1 FROM transfers WHERE status IN "
                                  "('ACCEPTED', 'SUBMITTED', 'UNKNOWN') LIMIT 1")
        wait_for(settled, timeout=60, what="every payout to settle")
        completed = conn.query("SELECT COUNT(*) FROM payouts")[0][0]
        # The simulator writes its book every 100 ms: wait until it shows every payout.
        wait_for(lambda: sum(hub.receiver_credits().values()) >= completed, timeout=10,
                 what="MobiCash's book")
        result = audit(conn, list(tally.acked), hub.receiver_credits())
    finally:
        conn.close()
    assert result.lost == []
    assert result.double_payouts == []
    assert result.unbalanced == []
