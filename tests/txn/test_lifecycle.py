"""The transfer lifecycle through the engine, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from corridor.core.errors import CorridorError
from corridor.core.money import Money
from corridor.store import reads as q
from corridor.txn.commands.compliance import Decide
from corridor.txn.commands.floats import Fund
from corridor.txn.engine import Engine
from corridor.txn.verify import violations
from tests.txn.rig import quote_body, transfer_body, worker


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def fund(engine: Engine, amount: str = "100000.00", ref: str = "dep-1") -> None:
    await engine.writer.submit(Fund(engine.site.partners["payfast"], Money.parse(amount, "INR"),
                                    ref, datetime.now(UTC)))


async def new_quote(engine: Engine, key: str = "q-1", amount: str = "1000.00") -> dict[str, Any]:
    reply = await engine.quote("payfast", key, quote_body(amount))
    assert reply.status == 201
    return json.loads(reply.body)


async def create(engine: Engine, key: str, body: bytes) -> dict[str, Any]:
    reply = await engine.create_transfer("payfast", key, body)
    assert reply.status == 201
    return json.loads(reply.body)


async def balances(engine: Engine) -> dict[str, tuple[int, int]]:
    rows = json.loads(await engine.balances())
    return {r["account"]: (r["posted"], r["pending"]) for r in rows}


async def counts(engine: Engine) -> tuple[int, int, int]:
    def count(conn: Any) -> tuple[int, int, int]:
        return tuple(conn.query(f"SELECT COUNT(*) FROM {t}")[0][0]  # type: ignore[return-value]
                     for t in ("transfers", "events", "entries"))
    return await engine.read(count)


async def clean(engine: Engine) -> list[str]:
    return await engine.read(lambda conn: violations(engine.site, conn))


def test_a_transfer_is_reserved_paid_out_and_posted(engine: Engine) -> None:
    async def go() -> None:
        await fund(engine)
        quote = await new_quote(engine)
        t = await create(engine, "t-1", transfer_body(quote["id"]))
        assert t["status"] == "ACCEPTED" and t["send_amount"] == "1000.00"
        bal = await balances(engine)
        assert bal["float:payfast:INR"] == (100000_00, -1055_00)  # send + fee reserved
        assert await worker(engine).step() == 1
        done = json.loads(await engine.get_transfer("payfast", t["id"]))
        assert done["status"] == "COMPLETED"
        assert [h["status"] for h in done["history"]] == [
            "RECEIVED", "ACCEPTED", "SUBMITTED", "COMPLETED"]
        bal = await balances(engine)
        assert bal["float:payfast:INR"] == (100000_00 - 1055_00, 0)
        assert bal["settlement:mobicash:KES"][0] == int(quote["receive_amount"].replace(".", ""))
        assert bal["revenue:fee:INR"] == (55_00, 0)
        assert await worker(engine).step() == 0  # nothing is paid twice
        page = json.loads(await engine.events(0, 100))
        kinds = [(e["type"], e["data"].get("status")) for e in page["events"]]
        assert kinds == [("ledger.funded", None), ("transfer.status", "RECEIVED"),
                         ("transfer.status", "ACCEPTED"), ("transfer.status", "SUBMITTED"),
                         ("transfer.status", "COMPLETED")]
        assert json.loads(await engine.events(page["next"], 100))["events"] == []
        assert await clean(engine) == []
    run(go())


def test_a_retry_with_the_same_key_returns_the_first_answer(engine: Engine) -> None:
    async def go() -> None:
        await fund(engine)
        quote = await new_quote(engine)
        body = transfer_body(quote["id"])
        first = await engine.create_transfer("payfast", "t-1", body)
        again = await engine.create_transfer("payfast", "t-1", body)
        assert (again.status, again.body) == (first.status, first.body)
        before = await counts(engine)
        with pytest.raises(CorridorError) as err:
            await engine.create_transfer("payfast", "t-1", transfer_body(quote["id"], "ref-2"))
        assert (err.value.status, err.value.code) == (409, "idempotency_conflict")
        assert await counts(engine) == before == (1, 3, 2 + 6)  # funding + transfer legs
        again_quote = await engine.quote("payfast", "q-1", quote_body())
        assert json.loads(again_quote.body)["id"] == quote["id"]
    run(go())


@pytest.mark.parametrize(("case", "status", "code"), [
    ("excess decimals", 422, "invalid_amount"),
    ("unknown currency", 422, "invalid_request"),
    ("no route", 422, "no_route"),
    ("both amounts", 422, "amount_required"),
    ("not json", 400, "malformed_json"),
])
def test_bad_quotes_are_refused_with_a_code(engine: Engine, case: str, status: int,
                                            code: str) -> None:
    bodies = {
        "excess decimals": quote_body("10.001"),
        "unknown currency": quote_body(send_currency="XXXX"),
        "no route": quote_body(destination_country="JP"),
        "both amounts": quote_body(receive_amount="10.00"),
        "not json": b"{send_amount: 10",
    }

    async def go() -> None:
        with pytest.raises(CorridorError) as err:
            await engine.quote("payfast", "q-1", bodies[case])
        assert (err.value.status, err.value.code) == (status, code)
        assert await engine.read(lambda conn: conn.query("SELECT COUNT(*) FROM quotes")) == [(0,)]
    run(go())


def test_bad_transfers_are_refused_and_change_nothing(engine: Engine, clock: Any) -> None:
    async def go() -> None:
        await fund(engine)
        quote = await new_quote(engine)
        used = await new_quote(engine, "q-used")
        await create(engine, "t-ok", transfer_body(used["id"], "ref-ok"))
        other = await engine.quote("payfast", "q-2", quote_body())
        before = await counts(engine)
        cases = [
            (transfer_body("no-such-quote", "ref-a"), 422, "quote_not_found"),
            (transfer_body(quote["id"], "ref-ok"), 409, "duplicate_reference"),
            (transfer_body(used["id"], "ref-b"), 409, "quote_used"),
            (transfer_body(quote["id"], "ref-c", sender=""), 422, "invalid_request"),
            (transfer_body(quote["id"], "ref-d", beneficiary_extra=1), 422, "invalid_request"),
            (json.dumps({**json.loads(transfer_body(quote["id"], "ref-e")),
                         "beneficiary": {"name": "John Kamau", "account": "2547"}}).encode(),
             422, "missing_kyc"),
        ]
        for i, (body, status, code) in enumerate(cases):
            with pytest.raises(CorridorError) as err:
                await engine.create_transfer("payfast", f"bad-{i}", body)
            assert (err.value.status, err.value.code) == (status, code), body
        clock.advance(601)  # quotes live 600 s
        with pytest.raises(CorridorError) as err:
            await engine.create_transfer("payfast", "late",
                                         transfer_body(json.loads(other.body)["id"], "ref-f"))
        assert err.value.code == "quote_expired"
        assert await counts(engine) == before
    run(go())


def test_a_foreign_quote_is_not_found(engine: Engine) -> None:
    async def go() -> None:
        quote = await new_quote(engine)
        with pytest.raises(CorridorError) as err:
            await engine.create_transfer("desertx", "t-1", transfer_body(quote["id"]))
        assert err.value.code == "quote_not_found"
    run(go())


def test_without_funds_a_transfer_is_rejected(engine: Engine) -> None:
    async def go() -> None:
        await fund(engine, "500.00")
        quote = await new_quote(engine)
        t = await create(engine, "t-1", transfer_body(quote["id"]))
        assert (t["status"], t["code"]) == ("REJECTED", "insufficient_funds")
        bal = await balances(engine)
        assert bal["float:payfast:INR"] == (500_00, 0)
        assert await worker(engine).step() == 0
        assert await clean(engine) == []
    run(go())


def test_the_per_sender_daily_limit_rejects(engine: Engine) -> None:
    async def go() -> None:
        await fund(engine, "5000000.00")
        statuses = []
        for i in range(3):  # 3 x 450,000 INR against a 1,000,000 daily limit
            quote = await new_quote(engine, f"q-{i}", "450000.00")
            t = await create(engine, f"t-{i}", transfer_body(quote["id"], f"ref-{i}"))
            statuses.append((t["status"], t.get("code")))
        assert statuses == [("ACCEPTED", None), ("ACCEPTED", None),
                            ("REJECTED", "limit_exceeded")]
    run(go())


def test_cancel_before_submission_releases_the_reservation(engine: Engine) -> None:
    async def go() -> None:
        await fund(engine)
        quote = await new_quote(engine)
        t = await create(engine, "t-1", transfer_body(quote["id"]))
        r = await engine.cancel("payfast", "c-1", t["id"], b'{"reason": "customer asked"}')
        assert (r.status, json.loads(r.body)["status"]) == (200, "CANCELLED")
        assert (await balances(engine))["float:payfast:INR"] == (100000_00, 0)
        assert await worker(engine).step() == 0  # the payout message went with the cancel
        got = json.loads(await engine.get_transfer("payfast", t["id"]))
        assert got["status"] == "CANCELLED"
        with pytest.raises(CorridorError) as err:
            await engine.cancel("payfast", "c-2", t["id"], b"{}")
        assert err.value.code == "invalid_state"
        with pytest.raises(CorridorError) as err:
            await engine.cancel("desertx", "c-3", t["id"], b"{}")
        assert err.value.code == "transfer_not_found"
        assert await clean(engine) == []
    run(go())


def test_a_sanctions_hit_holds_until_an_analyst_decides(engine: Engine) -> None:
    async def go() -> None:
        await fund(engine)
        held = []
        for i in range(2):
            quote = await new_quote(engine, f"q-{i}")
            t = await create(engine, f"t-{i}", transfer_body(quote["id"], f"ref-{i}",
                                                            beneficiary="Viktor Malenkov"))
            assert (t["status"], t["code"]) == ("COMPLIANCE_HOLD", "sanctions_hit")
            held.append(t["id"])
        assert (await balances(engine))["float:payfast:INR"] == (100000_00, 0)
        listed = await engine.read(q.held)
        assert [r.id for r in listed] == held
        now = datetime.now(UTC)
        site = engine.site
        out = await engine.writer.submit(Decide(site.partners, held[0], "release", "ana",
                                                "false positive", now))
        assert out.status == "ACCEPTED"
        out = await engine.writer.submit(Decide(site.partners, held[1], "reject", "ana",
                                                "confirmed match", now))
        assert (out.status, out.code) == ("REJECTED", "compliance_rejected")
        with pytest.raises(CorridorError) as err:
            await engine.writer.submit(Decide(site.partners, held[1], "release", "ana", None,
                                              now))
        assert err.value.code == "invalid_state"
        page = json.loads(await engine.events(0, 100))
        decisions = [e["data"] for e in page["events"] if e["type"] == "compliance.decision"]
        assert [(d["decision"], d["analyst"]) for d in decisions] == [
            ("release", "ana"), ("reject", "ana")]
        assert (await balances(engine))["float:payfast:INR"] == (100000_00, -1055_00)
        assert await clean(engine) == []
    run(go())


def test_listing_is_paged_and_partners_see_only_their_own(engine: Engine) -> None:
    async def go() -> None:
        await fund(engine)
        ids = []
        for i in range(5):
            quote = await new_quote(engine, f"q-{i}")
            ids.append((await create(engine, f"t-{i}", transfer_body(quote["id"], f"r-{i}")))["id"])
        first = json.loads(await engine.list_transfers("payfast", {"limit": "3"}))
        rest = json.loads(await engine.list_transfers(
            "payfast", {"limit": "3", "cursor": first["next_cursor"]}))
        assert [t["id"] for t in first["items"] + rest["items"]] == ids
        assert rest["next_cursor"] is None
        one = json.loads(await engine.list_transfers("payfast", {"reference": "r-2"}))
        assert [t["id"] for t in one["items"]] == [ids[2]]
        assert json.loads(await engine.list_transfers("desertx", {}))["items"] == []
        with pytest.raises(CorridorError) as err:
            await engine.get_transfer("desertx", ids[0])
        assert err.value.code == "transfer_not_found"
    run(go())


def test_a_commit_wakes_only_the_pumps_of_the_messages_it_queued(engine: Engine) -> None:
    async def go() -> None:
        payouts, callbacks = engine.waker("payout"), engine.waker("sender_callback")
        await fund(engine)
        quote = await new_quote(engine)
        await create(engine, "t-1", transfer_body(quote["id"]))
        await asyncio.wait_for(payouts.wait(), 5)
        # Woken in the same call as the payout pump: an accepted transfer has nothing to
        # tell its sender yet, so the sender-callback pump sleeps on.
        assert not callbacks.is_set()
        payouts.clear()
        assert await worker(engine).step() == 1  # paid out: COMPLETED, a sender callback
        await asyncio.wait_for(callbacks.wait(), 5)
        assert not payouts.is_set()
    run(go())
