"""Returns and recalls through the engine, on SQLite and PostgreSQL: the ledger reversal,
the refusals (wrong state, a second return), the flags they leave, and a recall answered
by the in-process connector."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from corridor.core.errors import CorridorError
from corridor.core.returns import return_terms
from corridor.settings import Settings
from corridor.store import reads as q
from corridor.txn.commands.returns import AnswerRecall, BookReturn, Outcome
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine
from corridor.txn.recalls import RecallForwarder
from tests.txn.rig import transfer_body, worker
from tests.txn.test_lifecycle import balances, clean, create, fund, new_quote


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def completed(engine: Engine, n: int = 1) -> dict[str, Any]:
    await fund(engine, ref=f"dep-{n}")
    quote = await new_quote(engine, key=f"q-{n}")
    t = await create(engine, f"t-{n}", transfer_body(quote["id"], reference=f"ref-{n}"))
    assert await worker(engine).step() == 1
    got = json.loads(await engine.get_transfer("payfast", t["id"]))
    assert got["status"] == "COMPLETED"
    return got


async def book(engine: Engine, tid: str, ref: str | None = "MC-R-1",
               partner: str = "mobicash") -> Outcome:
    return await engine.writer.submit(BookReturn(
        tid, "beneficiary account closed", engine.clock(), partner_id=partner,
        return_reference=ref))


async def flags(engine: Engine, tid: str) -> list[str]:
    rows = await engine.read(lambda c: c.query(
        "SELECT kind FROM reconciliation WHERE transfer_id = ? ORDER BY kind", (tid,)))
    return [r[0] for r in rows]


async def callbacks(engine: Engine, tid: str) -> list[dict[str, Any]]:
    rows = await engine.read(lambda c: c.query(
        "SELECT payload FROM outbox WHERE kind = 'sender_callback' AND transfer_id = ? "
        "ORDER BY id", (tid,)))
    return [json.loads(r[0]) for r in rows]


def test_a_return_reverses_the_payout_once_and_keeps_the_fee(engine: Engine) -> None:
    async def go() -> None:
        t = await completed(engine)
        before = await balances(engine)
        ack = (await book(engine, t["id"])).result()
        assert (ack.status, ack.duplicate) == ("RETURNED", False)
        after = await balances(engine)
        send, fee = 1000_00, 55_00
        receive = int(t["receive_amount"].replace(".", ""))
        row = await engine.read(q.transfer, t["id"])
        terms = return_terms(send, fee, row.fx_margin_minor, receive)
        assert terms.float_credit == send and terms.fee_kept == fee
        assert after["float:payfast:INR"][0] - before["float:payfast:INR"][0] == send
        assert after["settlement:mobicash:KES"][0] == 0  # what it was credited, taken back
        assert after["revenue:fee:INR"] == before["revenue:fee:INR"]  # the fee is kept
        assert after["revenue:fx:INR"][0] == 0  # the margin is given back
        assert after["fx:position:KES"][0] == 0 and after["fx:position:INR"][0] == 0
        got = json.loads(await engine.get_transfer("payfast", t["id"]))
        assert got["status"] == "RETURNED" and got["code"] == "payout_returned"
        assert got["reason"] == "beneficiary account closed"
        assert [h["status"] for h in got["history"]][-2:] == ["COMPLETED", "RETURNED"]
        sent = await callbacks(engine, t["id"])
        assert [c["transfer"]["status"] for c in sent] == ["COMPLETED", "RETURNED"]
        # The same return again is a repeat; another return is refused and flagged.
        again = (await book(engine, t["id"])).result()
        assert again.duplicate
        second = await book(engine, t["id"], ref="MC-R-2")
        with pytest.raises(CorridorError) as err:
            second.result()
        assert (err.value.status, err.value.code) == (409, "already_returned")
        assert await flags(engine, t["id"]) == ["second_return"]
        await book(engine, t["id"], ref="MC-R-3")  # flagged once, however often it comes
        assert await flags(engine, t["id"]) == ["second_return"]
        assert await balances(engine) == after
        assert await clean(engine) == []
    run(go())


def test_a_return_for_a_transfer_not_completed_is_refused_and_flagged(engine: Engine) -> None:
    async def go() -> None:
        await fund(engine)
        quote = await new_quote(engine)
        t = await create(engine, "t-1", transfer_body(quote["id"]))
        before = await balances(engine)
        outcome = await book(engine, t["id"])
        with pytest.raises(CorridorError) as err:
            outcome.result()
        assert (err.value.status, err.value.code) == (409, "not_completed")
        assert await flags(engine, t["id"]) == ["return_not_completed"]
        assert await balances(engine) == before
        with pytest.raises(CorridorError) as err:
            (await book(engine, t["id"], partner="payfast")).result()
        assert err.value.code == "not_your_transfer"
        assert await clean(engine) == []
    run(go())


def test_a_recall_is_forwarded_and_comes_back_as_a_return(engine: Engine) -> None:
    async def go() -> None:
        t = await completed(engine)
        body = b'{"reason": "sent to the wrong wallet"}'
        reply = await engine.recall("payfast", "r-1", t["id"], body)
        assert reply.status == 202
        assert json.loads(reply.body)["status"] == "REQUESTED"
        again = await engine.recall("payfast", "r-1", t["id"], body)
        assert again.body == reply.body  # the idempotent replay
        with pytest.raises(CorridorError) as err:
            await engine.recall("payfast", "r-2", t["id"], body)
        assert err.value.code == "already_recalled"
        settings = Settings(connector="in-process")
        # The in-process partner honours every recall with a return in its answer.
        pump = RecallForwarder(engine, Connectors(engine.site, settings), settings)
        assert await pump.step() == 1
        got = json.loads(await engine.get_transfer("payfast", t["id"]))
        assert (got["status"], got["code"]) == ("RETURNED", "recalled")
        sent = await callbacks(engine, t["id"])
        assert sent[-1]["recall"]["status"] == "RETURNED"
        assert await pump.step() == 0
        assert await clean(engine) == []
    run(go())


def test_a_refused_recall_leaves_the_transfer_completed(engine: Engine) -> None:
    async def go() -> None:
        t = await completed(engine)
        await engine.recall("payfast", "r-1", t["id"], b'{"reason": "fraud suspected"}')
        ack = await engine.writer.submit(AnswerRecall(
            t["id"], "refused", "funds already withdrawn", engine.clock(),
            partner_id="mobicash"))
        assert ack.status == "COMPLETED"
        sent = await callbacks(engine, t["id"])
        assert sent[-1]["recall"]["status"] == "REFUSED"
        assert sent[-1]["recall"]["answer"] == "funds already withdrawn"
        assert sent[-1]["transfer"]["status"] == "COMPLETED"
        assert (await engine.writer.submit(AnswerRecall(
            t["id"], "refused", "again", engine.clock(), partner_id="mobicash"))).duplicate
        assert await clean(engine) == []
    run(go())


@pytest.mark.parametrize(("case", "status", "code"), [
    ("another partner's", 404, "transfer_not_found"),
    ("not completed", 409, "not_completed"),
    ("no reason", 422, "invalid_request"),
])
def test_bad_recalls_are_refused_with_a_code(engine: Engine, case: str, status: int,
                                             code: str) -> None:
    async def go() -> None:
        await fund(engine)
        quote = await new_quote(engine)
        t = await create(engine, "t-1", transfer_body(quote["id"]))
        if case != "not completed":
            assert await worker(engine).step() == 1
        partner = "desertx" if case == "another partner's" else "payfast"
        body = b"{}" if case == "no reason" else b'{"reason": "mistake"}'
        with pytest.raises(CorridorError) as err:
            await engine.recall(partner, "r-1", t["id"], body)
        assert (err.value.status, err.value.code) == (status, code)
    run(go())


def test_a_key_used_for_another_call_is_a_conflict_not_a_replay(engine: Engine) -> None:
    async def go() -> None:
        t = await completed(engine)
        body = b'{"reason": "mistake"}'
        with pytest.raises(CorridorError):
            await engine.cancel("payfast", "k-1", t["id"], body)  # too late to cancel
        await fund(engine, ref="dep-9")
        other = await new_quote(engine, key="q-9")
        pending = await create(engine, "t-9", transfer_body(other["id"], reference="ref-9"))
        await engine.cancel("payfast", "k-2", pending["id"], body)
        with pytest.raises(CorridorError) as err:
            await engine.recall("payfast", "k-2", t["id"], body)
        assert err.value.code == "idempotency_conflict"
        assert (await engine.recall("payfast", "k-3", t["id"], body)).status == 202
        with pytest.raises(CorridorError) as err:
            await engine.cancel("payfast", "k-3", pending["id"], body)
        assert err.value.code == "idempotency_conflict"
    run(go())
