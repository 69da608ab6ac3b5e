"""`corridor lab demo`: one transfer across the lab, hop by hop, through the tunnels.

The send partner's application (PayFast's, in its own host behind its gateway) quotes and
creates a transfer at EIG through its tunnel; EIG sees the application's inner address;
TXN pays out to the receive partner (MobiCash) through that partner's tunnel; its
receiver callback comes back through it; the sender callback goes back to PayFast through
PayFast's tunnel. The application traces its calls as a partner with tracing would (a
sampled W3C `traceparent`), so every hop records its spans on its own host and `corridor
trace` shows the journey from the hosts' data directories. Each hop prints the hosts it
crossed and the ESP packet counters that moved; at the end, the TCP that left PayFast's
gateway in clear must be none.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from corridor.core.ids import new_id
from corridor.lab import netns, state, tunnels
from corridor.lab.errors import LabError
from corridor.lab.plan import PartnerEnd, Plan, plan
from corridor.lab.procs import corridor
from corridor.lab.report import LAB_TABLE
from corridor.lab.servers import data_dir
from corridor.net import nft
from corridor.probe import poll
from corridor.sim.process import control_call
from corridor.site import load_site
from corridor.site.model import Site

T = TypeVar("T")
SEND_AMOUNT = "10000.00"
WAIT_S = 300.0  # conditions end the waits; the deadline bounds a hang under an emulated VM


def _wait(what: str, check: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    value = poll(check, timeout, 0.1)
    if not value:
        raise LabError(f"demo: no {what} after {timeout:.0f}s")
    return value


class Journey:
    def __init__(self, root: Path, name: str, partner: str, receiver: str,
                 console: Console) -> None:
        st = state.load(root, name)
        if st is None or st.phase != "up":
            raise LabError(f"no lab {name} is up; run `corridor lab up --name {name}`")
        self.root, self.name, self.st, self.out = root, name, st, console
        self.site: Site = load_site(st.dir / "site")
        self.plan: Plan = plan(self.site)
        end = self.plan.partners.get(partner)
        if end is None or not self.site.partners[partner].sends:
            raise LabError(f"demo: {partner} is not a send partner with a tunnel in the lab")
        other = self.plan.partners.get(receiver)
        if other is None or not self.site.partners[receiver].receives:
            raise LabError(f"demo: {receiver} is not a receive partner with a tunnel in the lab")
        self.sender, self.receiver = end, other
        self.start: dict[str, dict[str, int]] = {}  # ESP counts when the journey began
        self.counts: dict[str, dict[str, int]] = {}  # ... when its tunnel was last printed

    # -- printing ------------------------------------------------------------------------

    def hop(self, who: str, text: str) -> None:
        self.out.print(f"[bold cyan]{who:>9}[/]  {text}")

    def path(self, *hosts: str) -> str:
        return " -> ".join(hosts)

    def moved(self, end: PartnerEnd) -> str:
        """The ESP packets each end of `end`'s tunnel sent since the last call for it."""
        now = self._esp(end)
        before = self.counts[end.id]
        self.counts[end.id] = now
        vpn, gw = self.plan.vpn, end.gateway
        return (f"ESP {vpn} -> {gw} +{now['to'] - before.get('to', 0)}, {gw} -> {vpn} "
                f"+{now['out'] - before.get('out', 0)}")

    def totals(self, end: PartnerEnd) -> str:
        """Both ends' counts over the whole journey: what one sent, the other received."""
        now, first = self._esp(end), self.start[end.id]
        d = {k: now[k] - first[k] for k in now}
        vpn, gw = self.plan.vpn, end.gateway
        return (f"{end.id}'s tunnel: {vpn} sent {d['to']} ESP packets, {gw} received "
                f"{d['in']}; {gw} sent {d['out']}, {vpn} received {d['from']}")

    def _esp(self, end: PartnerEnd) -> dict[str, int]:
        vpn = {c.rule: c.packets for c in nft.counters(self.st.ns(self.plan.vpn), LAB_TABLE)}
        gw = {c.rule: c.packets for c in nft.counters(self.st.ns(end.gateway), LAB_TABLE)}
        return {"to": vpn.get(f"esp to {end.id}", 0), "from": vpn.get(f"esp from {end.id}", 0),
                "out": gw.get("esp out", 0), "in": gw.get("esp in", 0),
                "clear": gw.get("cleartext tcp out", 0)}

    # -- the journey ---------------------------------------------------------------------

    def run(self) -> None:
        sender, receiver = self.sender, self.receiver
        self._need_tunnels(sender.id, receiver.id)
        self.start = {e.id: self._esp(e) for e in (sender, receiver)}
        self.counts = dict(self.start)
        self.out.print(f"[bold]Corridor lab demo[/]: {sender.id}'s application sends a transfer "
                       "through the lab's tunnels")
        self._fund(sender.id)
        netns.run_in(self.st.ns(sender.app), asyncio.run, self._send(sender, receiver))
        for end in (sender, receiver):
            self.hop("ESP", self.totals(end))
        leaked = self._esp(sender)["clear"] - self.start[sender.id]["clear"]
        if leaked:
            raise LabError(f"demo: {leaked} TCP packet(s) left {sender.gateway} in clear")
        self.out.print(f"[bold green]demo complete[/]: every hop between partners and the hub "
                       f"crossed an IPsec tunnel; no TCP left {sender.gateway}'s internet link "
                       "in clear")

    def _need_tunnels(self, *partners: str) -> None:
        """Both ends of each tunnel up (IPsec SA), waited for; else one line why."""
        if self.st.esp is False:
            raise LabError("demo: this lab's kernel has no ESP, so no tunnel carries traffic")
        pending = tunnels.settle(self.site, self.plan, self.st, list(partners),
                                 need_ipsec=True, timeout=WAIT_S)
        if pending:
            pid, why = next(iter(pending.items()))
            raise LabError(f"demo: {pid}'s tunnel is not up ({why}); the journey needs its "
                           "IPsec SA (a kernel with ESP)")

    def _fund(self, partner: str) -> None:
        argv = corridor("ledger", "fund", partner, "1000000.00", "--reference",
                        f"LAB-{new_id()}", "--site", str(self.site.root), "--data",
                        str(data_dir(self.st, "txn")))
        done = subprocess.run(["ip", "netns", "exec", self.st.ns("txn"), *argv],
                              capture_output=True, text=True, timeout=WAIT_S, check=False)
        if done.returncode != 0:
            raise LabError(f"demo: funding {partner} failed: {done.stderr.strip()[-200:]}")
        self.hop("TXN", f"{done.stdout.strip()} (an operator on the txn host)")

    async def _send(self, sender: PartnerEnd, receiver: PartnerEnd) -> None:
        from corridor.sim.driver import SendDriver
        from corridor.sim.inbox import FINAL
        from corridor.sim.wallets import wallet_account

        eig = self.plan.ports["eig"]
        url = f"https://{sender.face}:{eig}"
        country = self.site.partners[receiver.id].country
        async with SendDriver(self.site, sender.id, eig_url=url, destination=country,
                              timeout=30, seed=1) as driver:
            trace_id = driver.new_trace()
            quote = await driver.quote(SEND_AMOUNT)
            self.hop(sender.id, f"POST {url}/v1/quotes -> quote {quote.id[:13]}..: "
                     f"{quote.send_amount} {quote.send_currency} + fee {quote.fee} -> "
                     f"{quote.receive_amount} {quote.receive_currency}")
            self.hop("", self.path(sender.app, sender.gateway, "net", self.plan.vpn, "eig", "txn")
                     + f"; {self.moved(sender)}")
            self._eig_sees(sender)
            account = wallet_account(driver.receiver.country, 1)  # the driver's first slot
            sent_at = time.time()  # the clock PayFast's inbox stamps its callbacks with
            transfer = await driver.create(quote)
            self.hop(sender.id, f"POST /v1/transfers -> {transfer.id} {transfer.status} "
                     f"(trace {trace_id}); {self.moved(sender)}")
            if transfer.status != "ACCEPTED":
                raise LabError(f"demo: the transfer was {transfer.status}: {transfer.reason}")
            tid = transfer.id
            credit = _wait(f"credit on {receiver.id}'s wallet {account}",
                           lambda: self._credit(receiver, account, tid))
            back = _wait(f"{receiver.id}'s receiver callback",
                         lambda: self._calls(receiver, tid, "acknowledged"))
            # The callback often starts before the payout's answer is back: both are
            # counted together, on the callback's line.
            self.hop("TXN", f"payout to {receiver.id} at {receiver.app_addr}, sent from its face "
                     f"{receiver.face}: wallet {account} credited {credit['amount']} "
                     f"{quote.receive_currency}")
            self.hop("", self.path("txn", self.plan.vpn, "net", receiver.gateway, receiver.app))
            self.hop(receiver.id, f"receiver callback {back[0]['status']} -> POST "
                     f"https://{receiver.face}:{eig}/v1/callbacks/receiver, acknowledged")
            self.hop("", self.path(receiver.app, receiver.gateway, "net", self.plan.vpn, "eig",
                                   "txn") + f"; payout and callback: {self.moved(receiver)}")
            final = await driver.status(tid)
            deadline = time.monotonic() + WAIT_S
            while final.status not in FINAL and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                final = await driver.status(tid)
            if final.status != "COMPLETED":
                raise LabError(f"demo: the transfer ended {final.status}")
            got = _wait(f"{sender.id}'s sender callback",
                        lambda: [c for c in self._calls(sender, tid) if c["status"] == "COMPLETED"])
            # Until the callback arrived, not until this demo's polling saw it.
            took = got[0]["received_at"] - sent_at
            self.hop(sender.id, f"sender callback {got[0]['status']} at {sender.app_addr}, "
                     "signature verified")
            self.hop("", self.path("txn", self.plan.vpn, "net", sender.gateway, sender.app)
                     + f"; since the transfer, status polls included: {self.moved(sender)}")
            self.hop("journey", f"{took:.2f} s from {sender.id}'s POST /v1/transfers to its "
                     "sender callback")

    def _eig_sees(self, sender: PartnerEnd) -> None:
        """The peers of EIG's established partner connections, as EIG's host sees them."""
        port = self.plan.ports["eig"]
        done = subprocess.run(["ip", "netns", "exec", self.st.ns("eig"), "ss", "-Htn", "state",
                               "established", f"( sport = :{port} )"],
                              capture_output=True, text=True, timeout=30, check=False)
        peers = sorted({line.split()[-1].rsplit(":", 1)[0] for line in done.stdout.splitlines()
                        if line.strip()})
        allowed = ", ".join(str(n) for n in self.site.partners[sender.id].allowed_ips)
        if str(sender.app_addr) not in peers:
            raise LabError(f"demo: EIG's connections come from {peers or 'nowhere'}, not from "
                           f"{sender.id}'s application {sender.app_addr}")
        self.hop("EIG", f"sees the caller at {sender.app_addr} (in {sender.id}'s allowed_ips "
                 f"{allowed}), not at its gateway {sender.peer_ip}")

    def _control(self, end: PartnerEnd, path: str, port: int) -> Any:
        """A simulator's control API, from inside its own host, with the hub's certificate."""

        def call() -> Any:
            status, body = control_call(str(end.app_addr), port, self.site, "GET", path)
            return body if status == 200 else None

        return netns.run_in(self.st.ns(end.app), call)

    def _port(self, end: PartnerEnd) -> int:
        return end.serves[0][1]

    def _credit(self, end: PartnerEnd, account: str, tid: str) -> dict[str, Any] | None:
        wallet = self._control(end, f"/sim/wallets/{account}", self._port(end)) or {}
        return next((c for c in wallet.get("credits", []) if c["payout_id"] == tid), None)

    def _calls(self, end: PartnerEnd, tid: str, flag: str | None = None) -> list[Any]:
        found = self._control(end, f"/sim/callbacks?transfer_id={tid}", self._port(end)) or []
        return [c for c in found if flag is None or c.get(flag)]


def run(root: Path, name: str, partner: str, receiver: str) -> None:
    Journey(root, name, partner, receiver, Console(highlight=False, soft_wrap=True)).run()
