"""`corridor trace` across hosts: TXN and EIG run as separate hosts run them, each with its
own data directory (its audit log, its spans file); `--data` names TXN's host, `--from`
each other host's directory, and the timeline merges what all of them recorded, by time."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from corridor.sim.identity import PartnerIdentity
from corridor.sim.world import World
from corridor.stack import Stack
from corridor.tracing import spans_path
from tests.e2e.journeys import FAST, sender_told
from tests.e2e.test_tracing_hops import send_traced, spans
from tests.support import REPO, wait_for


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    """The simulators, TXN with the world's data directory, and EIG on a host of its own:
    (world, EIG's data directory)."""
    root = tmp_path_factory.mktemp("hosts")
    world = World.create(root, env={**FAST, "CORRIDOR_TRACING": "1"})
    eig_data = root / "eig-host"
    txn = Stack(world.site_dir, world.data_dir, world.store, world.env)
    eig = Stack(world.site_dir, eig_data, None, world.env)
    try:
        world.start_partners()
        txn.start_txn().wait_ready()
        eig.start_eig().wait_ready()
        world.fund()
        yield world, eig_data
    finally:
        eig.down()
        txn.down()
        world.stop()


def corridor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corridor", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def look_as_mobicash(world: World, transfer_id: str) -> int:
    """GET /v1/transfers/ID as MobiCash, a receive partner: refused (and audited) by EIG."""
    ident = PartnerIdentity.of(world.site, "mobicash", "receive")
    eig = world.site.hub.listen["eig"]

    async def go() -> int:
        connector = aiohttp.TCPConnector(ssl=ident.client_tls())
        async with aiohttp.ClientSession(connector=connector) as session, session.get(
                f"https://{eig.host}:{eig.port}/v1/transfers/{transfer_id}",
                headers={"Authorization": f"Bearer {ident.api_key()}"}) as resp:
            return resp.status

    return asyncio.run(go())


def rotated(eig_data: Path, into: Path) -> Path:
    """A copy of EIG's directory as logrotate leaves it: older lines in `NAME.2.gz`, newer
    in `NAME.1`, the current file empty."""
    (into / "eig").mkdir(parents=True)
    for name in ("spans.jsonl", "security-audit.jsonl"):
        lines = (eig_data / "eig" / name).read_bytes().splitlines(keepends=True)
        half = len(lines) // 2
        (into / "eig" / f"{name}.2.gz").write_bytes(gzip.compress(b"".join(lines[:half])))
        (into / "eig" / f"{name}.1").write_bytes(b"".join(lines[half:]))
        (into / "eig" / name).write_bytes(b"")
    return into


def test_trace_merges_the_records_of_each_host(hosts: tuple[World, Path], tmp_path: Path
                                                ) -> None:
    world, eig_data = hosts
    trace_id, tid = send_traced(world, sampled=True)
    sender_told(world, tid, "COMPLETED")
    assert look_as_mobicash(world, tid) == 403
    # Each host wrote its own spans; none is in the other's directory.
    wait_for(lambda: len(spans(eig_data, trace_id)) >= 3 and len(
        spans(world.data_dir, trace_id)) >= 6, timeout=30, what="both hosts' spans")
    assert not spans_path(world.data_dir, "eig").exists()
    assert not spans_path(eig_data, "txn").exists()

    where = ["--site", str(world.site_dir), "--data", str(world.data_dir)]
    alone = json.loads(corridor("trace", tid, "--json", *where).stdout)
    assert not [s for s in alone["steps"] if s["hop"] == "EIG"]

    out = corridor("trace", tid, "--json", *where, "--from", str(eig_data))
    assert out.returncode == 0, out.stderr
    steps: list[dict[str, Any]] = json.loads(out.stdout)["steps"]
    whats = [s["what"] for s in steps]

    def at(text: str) -> int:
        return next(i for i, w in enumerate(whats) if text in w)

    # EIG's request: who called, with what, and how long EIG itself took.
    created = steps[at("create_transfer from ")]
    assert created["hop"] == "EIG" and created["attributes"]["corridor.partner"] == "payfast"
    assert "certificate " in created["what"] and "ms of it in EIG" in created["what"]
    assert created["attributes"]["corridor.api_key.id"] in created["what"]
    # Merged by time: EIG's call, TXN's, the payout, MobiCash's callback through EIG, the
    # sender callback; then the refused look, from EIG's audit log.
    order = [at("create_transfer from "), at("txn POST /internal/v1/transfers"),
             at("payout to mobicash (claim"), at("POST /v1/payouts to https://"),
             at("receiver_callback from "), at("txn POST /internal/v1/callbacks/receiver"),
             at("sender callback to payfast (attempt"), at("refused GET /v1/transfers/")]
    assert order == sorted(order), whats
    assert "HTTP 201" in whats[at("POST /v1/payouts to https://")]
    assert "delivered, HTTP 200" in whats[at("sender callback to payfast (attempt")]
    refused = steps[at("refused GET /v1/transfers/")]
    assert refused["partner"] == "mobicash" and refused["fingerprint"]
    assert all(s["after_s"] >= 0 for s in steps[1:])

    # The same directory given twice adds nothing twice.
    again = corridor("trace", tid, "--json", *where, "--from", str(eig_data), "--from",
                     str(eig_data))
    assert json.loads(again.stdout)["steps"] == steps

    # Rotated logs are read too, compressed or not.
    old = rotated(eig_data, tmp_path / "eig-rotated")
    from_rotated = corridor("trace", tid, "--json", *where, "--from", str(old))
    assert json.loads(from_rotated.stdout)["steps"] == steps

    text = corridor("trace", tid, *where, "--from", str(eig_data))
    assert text.returncode == 0 and "ms of it in EIG" in text.stdout

    missing = corridor("trace", tid, *where, "--from", str(eig_data / "nonesuch"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "nonesuch" in missing.stderr
