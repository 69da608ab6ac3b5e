"""Sender callbacks a partner can rely on, through EIG with the simulators: each carries
its event id and a delivery id, the retry schedule is the partner's own (its file's
`callback_retry`), its `Retry-After` is honoured, and `GET /v1/events` lets it catch up
from its own cursor on what it missed (and only on its own)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corridor.sim.world import World
from corridor.site.edit import SiteEdit
from tests.e2e.journeys import funded_world, send, sender_told, settled
from tests.e2e.partnerapi import call
from tests.support import wait_for

# PayFast's own schedule: slower than the hub's (FAST), so the test can tell them apart.
SCHEDULE = {"backoff_s": 1, "backoff_max_s": 2, "retry_for_s": 60}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    def prepare(site_dir: Path) -> None:
        edit = SiteEdit(site_dir)
        edit.set("partners/payfast.yaml", ("callback_retry",), SCHEDULE)
        edit.commit()

    with funded_world(tmp_path_factory.mktemp("callbacks"), request.param, "cb",
                      prepare=prepare) as w:
        yield w


def inbox(world: World, path: str) -> Any:
    status, body = world.control(world.inbox, "GET", path)
    assert status == 200, body
    return body


def turned_away(world: World, event_id: str) -> list[dict[str, Any]]:
    return [t for t in inbox(world, "/sim/turned-away") if t["event_header"] == event_id]


def events(world: World, partner: str, after: str | None = None) -> dict[str, Any]:
    path = "/v1/events" + (f"?after={after}" if after is not None else "")
    status, body, _ = call(world, partner, "GET", path)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def newest_cursor(world: World, partner: str) -> str:
    cursor = "0"
    while True:
        page = events(world, partner, cursor)
        if page["next_cursor"] == cursor:
            return cursor
        cursor = page["next_cursor"]


def test_each_callback_names_its_event_and_its_delivery(world: World) -> None:
    [tid] = send(world, 1)
    settled(world, [tid], "COMPLETED")
    [got] = world.sender_callbacks(tid)
    assert got["type"] == "TRANSFER_STATUS"
    assert got["event_header"] == got["event_id"]
    assert re.fullmatch(r"[0-9]+-1", got["delivery_id"]), got


def down(world: World, seconds: float, retry_after: int | None = None) -> None:
    ask: dict[str, Any] = {"seconds": seconds, "mode": "503"}
    if retry_after is not None:
        ask["retry_after"] = retry_after
    status, body = world.control(world.inbox, "POST", "/sim/down", ask)
    assert status == 202, body


def refused_after(world: World, seen: int, count: int) -> list[dict[str, Any]]:
    """Wait until `count` more callbacks than `seen` were turned away; those."""
    def more() -> list[dict[str, Any]] | None:
        got = inbox(world, "/sim/turned-away")
        return got[seen:] if len(got) >= seen + count else None
    return wait_for(more, timeout=90, what=f"{count} callback(s) turned away")


def test_the_partners_schedule_and_its_retry_after_are_honoured(world: World) -> None:
    # Down (503, no Retry-After) until two attempts were turned away: PayFast's own
    # backoff (1 s, then 2 s), not the hub's 0.2 s, spaces the attempts.
    seen = len(inbox(world, "/sim/turned-away"))
    down(world, 120)
    try:
        [tid] = send(world, 1)
        refused_after(world, seen, 2)
    finally:
        down(world, 0.01)  # back up at once (and for the next tests if this one failed)
    sender_told(world, tid, "COMPLETED", timeout=20)
    [got] = world.sender_callbacks(tid)
    refused = turned_away(world, got["event_id"])
    assert 2 <= len(refused) <= 3
    times = [r["at"] for r in refused] + [got["received_at"]]
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times)), times
    # Each attempt had a delivery id of its own; the event id stayed the same.
    ids = [r["delivery_id"] for r in refused] + [got["delivery_id"]]
    assert len(set(ids)) == len(ids)

    # Down again, asking for 4 s: one attempt is turned away and the next comes 4 s later,
    # although the partner is back at once and its own backoff is 1 s.
    seen = len(inbox(world, "/sim/turned-away"))
    down(world, 120, retry_after=4)
    try:
        [tid] = send(world, 1)
        refused_after(world, seen, 1)
    finally:
        down(world, 0.01)
    sender_told(world, tid, "COMPLETED", timeout=20)
    [got] = world.sender_callbacks(tid)
    [refused_once] = turned_away(world, got["event_id"])
    assert got["received_at"] - refused_once["at"] >= 3.9


def test_a_partner_catches_up_from_its_own_cursor(world: World) -> None:
    start = newest_cursor(world, "payfast")
    theirs = newest_cursor(world, "desertx")
    ids = send(world, 3)
    settled(world, ids, "COMPLETED")
    page = events(world, "payfast", start)
    got = {e["callback"]["transfer"]["id"]: e for e in page["events"]}
    assert set(got) == set(ids)
    for tid in ids:
        event = got[tid]
        assert event["callback"]["type"] == "TRANSFER_STATUS"
        assert event["callback"]["transfer"]["status"] == "COMPLETED"
        # The same event the callback carried: the partner can drop what it already has.
        [delivered] = world.sender_callbacks(tid)
        assert event["callback"]["event_id"] == delivered["event_id"]
    assert page["next_cursor"] == max((e["cursor"] for e in page["events"]), key=int)
    assert events(world, "payfast", page["next_cursor"])["events"] == []
    # Paging: one at a time gives the same events in the same order.
    cursor, one_by_one = start, []
    while True:
        status, body, _ = call(world, "payfast", "GET", f"/v1/events?after={cursor}&limit=1")
        assert status == 200, body
        if not body["events"]:
            break
        one_by_one += [e["callback"]["event_id"] for e in body["events"]]
        cursor = body["next_cursor"]
    assert one_by_one == [e["callback"]["event_id"] for e in page["events"]]
    # Another send partner sees none of PayFast's.
    assert events(world, "desertx", theirs)["events"] == []
    assert all(e["callback"]["transfer"]["id"] not in ids
               for e in events(world, "desertx")["events"])


def test_a_bad_cursor_is_refused(world: World) -> None:
    for bad in ("abc", "-1", "1" * 30):
        status, body, _ = call(world, "payfast", "GET", f"/v1/events?after={bad}")
        assert (status, body["code"]) == (422, "invalid_cursor"), bad
    status, body, _ = call(world, "payfast", "GET", "/v1/events?limit=0")
    assert (status, body["code"]) == (422, "invalid_limit")
    status, body, _ = call(world, "mobicash", "GET", "/v1/events", role="receive")
    assert (status, body["code"]) == (403, "role_not_allowed")


