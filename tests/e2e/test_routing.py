"""Routing with failover between MobiCash and KenPay (hub.yaml: IN-KE wallet by priority,
MobiCash first), through EIG with both simulators: MobiCash down and back up under load.
Payouts move to KenPay while MobiCash is out of rotation and come back after a probe
succeeds; none is paid twice; a payout that may have been credited (UNKNOWN) stays put."""

from __future__ import annotations

from corridor.sim.faults import InjectedFaults
from corridor.sim.world import World
from corridor.store import reads as q
from corridor.txn import gauges
from tests.e2e.journeys import credits_at, send, sender_told, take_down, wait_status
from tests.e2e.test_faults import corridor
from tests.support import wait_for


def partner_of(world: World, tid: str) -> str:
    return str(world.query(q.transfer, tid).receive_partner_id)


def breaker(world: World, partner: str) -> str:
    rows = {r[0]: r[1] for r in world.query(q.breakers)}
    return str(rows.get(partner, "closed"))


def paid_once(world: World, ids: list[str], where: str, other_up: bool = True) -> None:
    """COMPLETED, credited once by `where` and never by the other (when it is up to say
    so), the sender told."""
    assert wait_status(world, ids, timeout=40) == {t: "COMPLETED" for t in ids}
    for tid in ids:
        here, there = (world.receiver, world.second) if where == "mobicash" else (
            world.second, world.receiver)
        assert credits_at(world, here, tid) == 1, tid
        if other_up:
            assert credits_at(world, there, tid) == 0, tid
        assert partner_of(world, tid) == where, tid
        sender_told(world, tid, "COMPLETED")
    assert world.violations() == []


def calm(world: World) -> None:
    world.faults(**InjectedFaults().as_dict())
    world.faults(world.second, **InjectedFaults().as_dict())
    wait_for(lambda: breaker(world, "mobicash") == "closed", timeout=20,
             what="MobiCash back in rotation")


def test_mobicash_down_and_back_up_under_load(world: World) -> None:
    calm(world)
    before = send(world, 4)
    paid_once(world, before, "mobicash")

    # MobiCash goes away: its connects are refused. Payouts under way move to KenPay (the
    # first ones after a refused connect, the rest at once once its breaker is open).
    take_down(world, world.receiver, 15)
    during = send(world, 30)
    wait_for(lambda: breaker(world, "mobicash") in ("open", "probing"), timeout=10,
             what="MobiCash out of rotation")
    snapshot = world.query(gauges.read, world.site)  # what /metrics reports
    assert dict(snapshot.breakers)["mobicash"] in ("open", "probing")
    assert dict(snapshot.breakers)["kenpay"] == "closed"
    paid_once(world, during, "kenpay", other_up=False)
    moved = [t for t in during if world.query(q.routes_of, t)]
    assert moved == during  # each one's route change is on record
    code, out = corridor(world, "transfers", "show", during[0])
    assert code == 0, out
    assert "route IN-KE wallet by priority: mobicash, kenpay; paid out by kenpay" in out
    assert "routed mobicash -> kenpay" in out
    assert "mobicash   breaker " in out and "kenpay     breaker closed" in out

    # It comes back: a probe succeeds, it is back in rotation and takes payouts again.
    wait_for(lambda: breaker(world, "mobicash") == "closed", timeout=30,
             what="MobiCash back in rotation after a probe")
    after = send(world, 6)
    paid_once(world, after, "mobicash")
    assert all(credits_at(world, world.receiver, t) == 0 for t in during)
    assert all(not world.query(q.routes_of, t) for t in after)


def test_a_payout_that_may_have_been_credited_is_never_rerouted(world: World) -> None:
    calm(world)
    # MobiCash takes the payouts but answers too late: each submission times out, the
    # payout is UNKNOWN (it may have been credited), and MobiCash leaves rotation.
    world.faults(latency_ms=2500)
    unknown = send(world, 3)
    assert wait_status(world, unknown, {"UNKNOWN"}, timeout=20) == {
        t: "UNKNOWN" for t in unknown}
    wait_for(lambda: breaker(world, "mobicash") in ("open", "probing"), timeout=10,
             what="MobiCash out of rotation")
    # New payouts go to KenPay meanwhile; the UNKNOWN ones stay with MobiCash.
    fresh = send(world, 3)
    paid_once(world, fresh, "kenpay")
    assert {partner_of(world, t) for t in unknown} == {"mobicash"}
    world.faults(latency_ms=0)
    paid_once(world, unknown, "mobicash")
    for tid in unknown:
        assert world.query(q.routes_of, tid) == []
        statuses = [h["status"] for h in world.query(q.history, tid)]
        assert "UNKNOWN" in statuses
