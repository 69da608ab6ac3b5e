"""The hub as production runs it, on one machine, for the HA tests and `corridor bench ha`:
two TXN processes as on two hosts (`txn` at 127.0.0.2, `txn-b` at 127.0.0.3, both on
`listen.txn`'s port), one or two EIG processes in front that spread calls over both, the
MobiCash and PayFast simulators, all on one TXN store (a Patroni pair's multi-host DSN, or
any DSN). Also the partner's traffic (`Load`) and an audit in plain SQL that does not rely
on `ledger verify`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corridor.core.ids import new_id
from corridor.httppool import Pool, TransportError
from corridor.ports import free_port
from corridor.sim.identity import PartnerIdentity
from corridor.sim.wallets import DEMO_WALLETS, holder_name, wallet_account
from corridor.sim.world import World
from corridor.site import copy_site, load_site
from corridor.site.edit import SiteEdit, relocate
from corridor.site.shipped import free_demo_ports
from corridor.stack import Service, Stack

TXN_HOSTS = (("txn", "127.0.0.2"), ("txn-b", "127.0.0.3"))
# Fast hub timeouts, so that a payout interrupted by a fault resumes within seconds.
FAST = {
    "CORRIDOR_TXN_LEASE_S": "3",
    "CORRIDOR_CONNECTOR_TIMEOUT_S": "2",
    "CORRIDOR_PAYOUT_POLL_S": "1",
    "CORRIDOR_PAYOUT_RETRY_S": "0.5",
    "CORRIDOR_PAYOUT_POLL_MAX_S": "2",
    "CORRIDOR_CALLBACK_BACKOFF_S": "0.2",
    "CORRIDOR_CALLBACK_BACKOFF_MAX_S": "1",
}


def ha_site(root: Path, txn_hosts: Sequence[tuple[str, str]] = TXN_HOSTS) -> Path:
    """A copy of the demo site on free ports, with TXN listening on every address of
    each of `txn_hosts` (hub.yaml hosts `txn`, `txn-b`), and its PKI."""
    from corridor.pki.bootstrap import bootstrap

    site_dir = copy_site(root / "site")
    relocate(site_dir, free_demo_ports())
    edit = SiteEdit(site_dir)
    edit.set("hub.yaml", ("listen", "txn", "host"), "0.0.0.0")
    hub = edit.document("hub.yaml")
    hosts = hub["hosts"]
    for n, (name, address) in enumerate(txn_hosts):
        index = next((i for i, h in enumerate(hosts) if h["name"] == name), None)
        if index is None:
            edit.append("hub.yaml", ("hosts",),
                        {"name": name, "zone": "core", "address": address, "ssh_port": 22})
            if "lab" in hub:  # every host has its place in the lab too
                edit.set("hub.yaml", ("lab", "addresses", name), f"10.98.1.{11 + n}")
        else:
            edit.set("hub.yaml", ("hosts", index, "address"), address)
    edit.commit()
    bootstrap(load_site(site_dir))
    return site_dir


@dataclass
class HaHub:
    """The servers on `store`: TXN processes named after `txn_hosts`, `eigs` EIGs."""

    root: Path
    store: str
    eigs: int = 1
    txn_hosts: Sequence[tuple[str, str]] = TXN_HOSTS
    env: dict[str, str] = field(default_factory=lambda: dict(FAST))
    world: World | None = None
    stack: Stack | None = None
    eig_ports: list[tuple[int, int]] = field(default_factory=list)

    def start(self) -> HaHub:
        site_dir = ha_site(self.root, self.txn_hosts)
        self.world = World(self.root, site_dir, self.store, self.env)
        self.stack = Stack(site_dir, self.world.data_dir, self.store, self.env)
        try:
            self.world.start_partners()
            self.world.fund("1000000000.00")
            for name, _ in self.txn_hosts:
                self.start_txn(name).wait_ready(60)
            site = load_site(site_dir)
            listen = site.hub.listen
            self.eig_ports = [(listen["eig"].port, listen["eig_internal"].port)]
            self.eig_ports += [(free_port(), free_port()) for _ in range(self.eigs - 1)]
            for i in range(self.eigs):
                self.start_eig(i).wait_ready(60)
        except BaseException:
            self.stop()
            raise
        return self

    def start_txn(self, name: str) -> Service:
        assert self.stack is not None and self.world is not None
        address = dict(self.txn_hosts)[name]
        port = self.world.site.hub.listen["txn"].port
        return self.stack.start_txn(name, (address, port))

    def start_eig(self, i: int) -> Service:
        assert self.stack is not None
        # Rate limits are per partner and process; the load here is the hub's own.
        return self.stack.start_eig(f"eig{i}" if i else "eig", self.eig_ports[i],
                                    ("--rate", "100000", "--burst", "100000"))

    def service(self, name: str) -> Service:
        assert self.stack is not None
        return self.stack.services[name]

    @property
    def eig_urls(self) -> list[str]:
        return [f"https://127.0.0.1:{port}" for port, _ in self.eig_ports]

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.down()
        if self.world is not None:
            self.world.stop()

    def receiver_credits(self) -> dict[str, int]:
        """payout id -> how many times MobiCash credited a wallet for it, from the
        simulator's own book (its state file)."""
        assert self.world is not None
        path = self.world.data_dir / "mobicash-state.json"
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        counts: dict[str, int] = {}
        wallets = saved.get("wallets", saved)
        for wallet in (wallets.values() if isinstance(wallets, dict) else wallets):
            for credit in wallet.get("credits", []) if isinstance(wallet, dict) else []:
                pid = credit.get("payout_id")
                if pid:
                    counts[pid] = counts.get(pid, 0) + 1
        return counts


# -- the partner's traffic --------------------------------------------------------------


@dataclass
class Tally:
    """What the partner saw: acknowledged transfers (201) with when, and latencies."""

    acked: dict[str, float] = field(default_factory=dict)  # transfer id -> monotonic time
    latencies: list[float] = field(default_factory=list)
    retries: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # 4xx status -> count

    def longest_gap(self, since: float, until: float) -> float:
        """The longest time between two acknowledgements around [since, until]: how long
        the partner could not get a transfer through."""
        times = sorted(t for t in self.acked.values() if since - 5 <= t <= until + 5)
        before = [t for t in times if t <= since]
        points = ([before[-1]] if before else [since]) + [t for t in times if t > since]
        gaps = [b - a for a, b in itertools.pairwise(points)]
        return max(gaps, default=until - since)


class Load:
    """PayFast sending transfers through EIG (`urls`, in turn; another on a failure), each
    call retried with its own Idempotency-Key until it is answered, as a careful partner
    does. Runs on its own thread and event loop."""

    def __init__(self, site_dir: Path, urls: list[str], clients: int = 8,
                 call_deadline: float = 120.0) -> None:
        site = load_site(site_dir)
        ident = PartnerIdentity.of(site, "payfast", "send")
        self._tls = ident.client_tls()
        self._auth = f"Bearer {ident.api_key(None, None)}"
        self.urls = urls
        self.clients = clients
        self.call_deadline = call_deadline
        self.tally = Tally()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._down: set[int] = set()

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Tally:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.call_deadline + 10)
        return self.tally

    async def _run(self) -> None:
        pools = [Pool(u, self._tls, self.clients, timeout=40) for u in self.urls]
        try:
            await asyncio.gather(*(self._client(pools, n) for n in range(self.clients)))
        finally:
            for p in pools:
                p.close()

    async def _call(self, pools: list[Pool], n: int, path: str, body: dict[str, Any]
                    ) -> tuple[int, Any]:
        headers = {"Authorization": self._auth, "Idempotency-Key": new_id(),
                   "Content-Type": "application/json"}
        data = json.dumps(body).encode()
        deadline = time.monotonic() + self.call_deadline
        turn = n
        while True:
            pool = pools[turn % len(pools)]
            try:
                got = await pool.request("POST", path, headers, data)
                if got.status < 500 and got.status != 429:
                    return got.status, json.loads(got.body) if got.body else None
            except TransportError:
                turn += 1  # that EIG does not answer: the next one
            self.tally.retries += 1
            if time.monotonic() > deadline:
                return 0, None
            await asyncio.sleep(0.1)

    async def _client(self, pools: list[Pool], n: int) -> None:
        quote_body = {"send_currency": "INR", "receive_currency": "KES",
                      "destination_country": "KE", "payout_method": "wallet",
                      "send_amount": "1000.00"}
        i = 0
        while not self._stop.is_set():
            i += 1
            started = time.monotonic()
            status, quote = await self._call(pools, n, "/v1/quotes", quote_body)
            if status != 201:
                self.tally.refused[status] = self.tally.refused.get(status, 0) + 1
                continue
            slot = (n * 7 + i) % DEMO_WALLETS + 1
            account = wallet_account("KE", slot)
            status, transfer = await self._call(pools, n, "/v1/transfers", {
                "quote_id": quote["id"], "reference": f"HA-{n}-{i}-{new_id()[-8:]}",
                "sender": {"name": "Asha Rao", "account": f"IN{n:03d}{i:08d}",
                           "address": "12 MG Road, Mumbai", "id_type": "passport",
                           "id_number": f"P{n:02d}{i:06d}", "country": "IN"},
                "beneficiary": {"name": holder_name(slot).title(), "account": account,
                                "phone": f"+{account}", "country": "KE"},
                "purpose": "family support", "source_of_funds": "salary"})
            if status == 201:
                now = time.monotonic()
                self.tally.acked[transfer["id"]] = now
                self.tally.latencies.append(now - started)
            else:
                self.tally.refused[status] = self.tally.refused.get(status, 0) + 1


# -- the audit --------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    lost: list[str]  # acknowledged transfers missing from the store
    double_payouts: list[str]  # transfers paid out more than once (hub or partner side)
    unbalanced: list[str]  # journals whose entries do not sum to zero per currency
    completed: int

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double_payouts or self.unbalanced)


def audit(conn: Any, acked: Sequence[str], credits: dict[str, int]) -> Audit:
    """Every acknowledged transfer is in the store; none was paid out twice (the hub's
    COMPLETED events and payouts, MobiCash's wallet credits); every journal balances per
    currency. Plain SQL over a psycopg or sqlite3-style connection (`query`)."""
    present: set[str] = set()
    ids = list(acked)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ", ".join("?" * len(chunk))
        present.update(r[0] for r in conn.query(
            f"SELECT id FROM transfers WHERE id IN ({marks})", chunk))
    lost = [t for t in ids if t not in present]
    twice = {r[0] for r in conn.query(
        "SELECT transfer_id FROM events WHERE type = 'transfer.status' AND data LIKE ? "
        "GROUP BY transfer_id HAVING COUNT(*) > 1", ('%"status":"COMPLETED"%',))}
    twice |= {pid for pid, n in credits.items() if n > 1}
    unbalanced = [f"{j} {c}" for j, c, _ in conn.query(
        "SELECT journal_id, currency, SUM(amount) FROM entries "
        "GROUP BY journal_id, currency HAVING SUM(amount) <> 0")]
    completed = conn.query("SELECT COUNT(*) FROM transfers WHERE status = 'COMPLETED'")[0][0]
    return Audit(lost, sorted(twice), unbalanced, int(completed))
