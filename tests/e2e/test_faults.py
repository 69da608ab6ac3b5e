"""The journey survives a misbehaving receive partner, a killed TXN and an unreachable
send partner: final states are right, no payout twice, nothing lost, the ledger verifies.
Each test runs on SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

from click.testing import CliRunner

from corridor.cli import cli
from corridor.sim.world import World
from corridor.store import reads as q
from tests.e2e.journeys import (
    credits,
    credits_at,
    history,
    send,
    sender_told,
    settled,
    statuses,
    take_down,
    wait_status,
)
from tests.support import wait_for


def corridor(world: World, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--site", str(world.site_dir),
                                      "--data", str(world.data_dir), "--store", world.dsn()])
    return result.exit_code, result.output


def test_a_healthy_journey_completes_by_callback(world: World) -> None:
    ids = send(world, 5)
    settled(world, ids, "COMPLETED")
    assert history(world, ids[0]) == ["RECEIVED", "ACCEPTED", "SUBMITTED", "COMPLETED"]
    acked = world.receiver_callbacks(ids[0])
    assert [(c["status"], c["acknowledged"]) for c in acked] == [("SUCCESS", True)]


def test_a_slow_partner_still_completes(world: World) -> None:
    world.faults(latency_ms=400)
    settled(world, send(world, 3), "COMPLETED")


def test_a_partner_that_is_down_leaves_the_payout_unknown_until_it_is_back(world: World) -> None:
    # Both Kenyan wallets down: no partner of the route can take the payout (with one
    # down, test_routing shows it moving to the other), so it waits UNKNOWN.
    for sim in (world.receiver, world.second):
        status, body = world.control(sim, "POST", "/sim/down", {"seconds": 3})
        assert status == 202, body
    for sim in (world.receiver, world.second):
        assert sim is not None
        wait_for(lambda s=sim: not s.healthy(), timeout=3, what=f"{sim.url} to go down")
    ids = send(world, 2)
    assert set(wait_status(world, ids, {"UNKNOWN"}, timeout=10).values()) == {"UNKNOWN"}
    # Status query: NOT_FOUND -> resubmitted under the same key, wherever it went.
    assert wait_status(world, ids, timeout=30) == {t: "COMPLETED" for t in ids}
    for tid in ids:
        assert "UNKNOWN" in history(world, tid)
        assert credits_at(world, world.receiver, tid) + credits_at(world, world.second,
                                                                     tid) == 1, tid
        sender_told(world, tid, "COMPLETED")
    assert world.violations() == []


def test_a_partner_answering_500_is_asked_again(world: World) -> None:
    world.faults(error_rate=1.0)
    ids = send(world, 2)
    wait_status(world, ids, {"UNKNOWN"}, timeout=10)
    world.faults(error_rate=0.0)
    settled(world, ids, "COMPLETED")


def test_a_timeout_after_crediting_is_resolved_by_status_query_without_paying_twice(
        world: World) -> None:
    world.faults(hang_after_credit=True, hang_seconds=3.0, callbacks=False)
    ids = send(world, 2)
    settled(world, ids, "COMPLETED")
    for tid in ids:
        assert history(world, tid)[-2:] == ["UNKNOWN", "COMPLETED"]
    assert world.receiver_callbacks(ids[0]) == []  # known by asking, not by callback


def test_a_duplicated_callback_is_harmless(world: World) -> None:
    world.faults(duplicate_callback=True)
    ids = send(world, 2)
    settled(world, ids, "COMPLETED")
    acked = wait_for(lambda: [c for c in world.receiver_callbacks(ids[0]) if c["acknowledged"]]
                     if len(world.receiver_callbacks(ids[0])) == 2 and all(
                         c["acknowledged"] for c in world.receiver_callbacks(ids[0])) else None,
                     timeout=10, what="both callbacks acknowledged")
    assert len(acked) == 2
    assert len(world.query(q.double_payouts)) == 0


def test_a_callback_before_the_submit_answer_completes_and_stays_completed(
        world: World) -> None:
    world.faults(callback_first=True)
    ids = send(world, 3)
    settled(world, ids, "COMPLETED")
    # MobiCash answers each submit (PENDING) right after the hub has acknowledged its
    # callback. A transfer sent now completes only after a payout round trip of its own to
    # MobiCash, by which time those late answers have reached the hub and been applied.
    settled(world, send(world, 1), "COMPLETED")
    for tid in ids:
        assert history(world, tid) == ["RECEIVED", "ACCEPTED", "SUBMITTED", "COMPLETED"]
    assert set(wait_status(world, ids).values()) == {"COMPLETED"}


def test_success_after_failure_is_flagged_for_a_person_and_never_paid(world: World) -> None:
    world.faults(failure_rate=1.0, success_after_failure=True)
    ids = send(world, 1)
    settled(world, ids, "FAILED")
    tid = ids[0]
    flags = wait_for(lambda: [f for f in world.query(q.reconciliation) if f[1] == tid],
                     timeout=10, what="the reconciliation flag")
    assert [(f[2], f[3], f[4]) for f in flags] == [("success_after_failure", "FAILED", "SUCCESS")]
    assert world.query(lambda c: c.query("SELECT 1 FROM payouts WHERE transfer_id = ?",
                                         (tid,))) == []
    code, out = corridor(world, "reconcile")
    assert code == 0, out
    assert tid in out and "success_after_failure" in out and "to do:" in out
    assert out.splitlines()[-1].startswith("1 contradiction(s) to reconcile")
    assert history(world, tid)[-1] == "FAILED"

    # Once dealt with, an operator closes it with a note; it leaves the list, keeps the note.
    code, out = corridor(world, "reconcile", "resolve", tid, "--by", "asha",
                         "--note", "MobiCash reversed the payout, ref R-77")
    assert code == 0 and out.strip() == f"{tid}: success_after_failure resolved by asha", out
    code, out = corridor(world, "reconcile")
    assert tid not in out and out.splitlines()[-1].startswith("0 contradiction(s)")
    code, out = corridor(world, "reconcile", "--all")
    assert "resolved " in out and "by asha: MobiCash reversed the payout, ref R-77" in out
    # Nothing left to resolve, a transfer never flagged, an empty note: one clear line.
    code, out = corridor(world, "reconcile", "resolve", tid, "--note", "again")
    assert code == 1 and "no_open_flag" in out and "Traceback" not in out
    code, out = corridor(world, "reconcile", "resolve", "nope", "--note", "x")
    assert code == 1 and "no_open_flag" in out
    code, out = corridor(world, "reconcile", "resolve", tid, "--note", " ")
    assert code == 2 and "say what was done" in out


def test_txn_killed_mid_payout_finishes_every_payout_once_after_restart(world: World) -> None:
    world.faults(latency_ms=700)
    ids = send(world, 20)
    wait_for(lambda: world.receiver_callbacks() is not None
             and "SUBMITTED" in statuses(world, ids).values(), timeout=10,
             what="a payout in flight")
    stack = world.stack
    assert stack is not None
    stack.services["txn"].kill()
    world.faults(latency_ms=0)
    stack.start_txn().wait_ready()
    settled(world, ids, "COMPLETED")
    assert world.query(q.double_payouts) == []


def test_sender_callbacks_wait_out_a_short_outage(world: World) -> None:
    take_down(world, world.inbox, 1.5)
    ids = send(world, 3)
    settled(world, ids, "COMPLETED")  # includes: PayFast got every sender callback


def test_a_long_outage_parks_callbacks_until_an_operator_replays_them(world: World) -> None:
    take_down(world, world.inbox, 6)
    ids = send(world, 2)
    assert set(wait_status(world, ids).values()) == {"COMPLETED"}

    def parked() -> list[str] | None:
        _, out = corridor(world, "callbacks", "list", "--failed")
        lines = [line for line in out.splitlines() if any(t in line for t in ids)]
        return lines if len(lines) == 2 else None

    lines = wait_for(parked, timeout=15, interval=0.3, what="both callbacks parked")
    wait_for(lambda: world.inbox is not None and world.inbox.healthy(), timeout=10,
             what="PayFast back")
    # A parked callback is due from the moment it was parked: only being parked keeps it
    # from the sender-callback pump, which takes due callbacks oldest first. So once PayFast
    # has the callback of a transfer sent now, a parked one that was going to be retried
    # would have been.
    [marker] = send(world, 1)
    sender_told(world, marker, "COMPLETED")
    for tid in ids:
        assert world.sender_callbacks(tid) == []
    for line in lines:
        code, out = corridor(world, "callbacks", "replay", line.split()[0])
        assert code == 0 and "queued again" in out, out
    for tid in ids:
        sender_told(world, tid, "COMPLETED")
        assert credits(world, tid) == 1
    code, out = corridor(world, "callbacks", "replay", lines[0].split()[0])
    assert code != 0 and "already delivered" in out
