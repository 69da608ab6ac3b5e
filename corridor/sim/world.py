"""A whole remittance world on this host: the hub's servers (TXN, EIG) as child processes,
a receive partner simulator and a send partner's callback server as child processes of
their own, on a fresh copy of the demo site with its PKI. Every hop is real HTTPS with
client certificates. The demo, the end-to-end tests and `corridor bench e2e` build one.

`World.create` copies the site and bootstraps its PKI; `start()` brings everything up;
`stop()` takes it down. The hub's side can steer the simulators through their control
API (`control`), read a wallet, fund a float and verify the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corridor.core.ids import new_id
from corridor.core.money import Money
from corridor.sim.process import (
    SimProcess,
    control_call,
    spawn_receive_partner,
    spawn_send_callbacks,
)
from corridor.site import copy_site, load_site
from corridor.site.edit import relocate
from corridor.site.model import Site
from corridor.site.shipped import free_demo_ports
from corridor.stack import Stack


def make_site(root: Path, ports: dict[str, int] | None = None) -> Path:
    """A fresh copy of the demo site under `root`/site with its PKI and secrets; moved to
    `ports` (see `corridor.site.edit.relocate`) when given."""
    from corridor.pki.bootstrap import bootstrap

    site_dir = copy_site(root / "site")
    if ports:
        relocate(site_dir, ports)
    bootstrap(load_site(site_dir))
    return site_dir


@dataclass
class World:
    root: Path
    site_dir: Path
    store: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    receiver_args: list[str] = field(default_factory=list)
    # The receive simulator keeps its wallet book in a state file (survives a restart);
    # it rewrites the whole book every 100 ms, so the bench goes without.
    receiver_state: bool = True
    stack: Stack | None = None
    receiver: SimProcess | None = None
    inbox: SimProcess | None = None
    # The second Kenyan wallet provider (KenPay): another instance of the same simulator,
    # which hub.yaml's routing gives IN-KE wallet payouts when MobiCash is out of rotation.
    second: SimProcess | None = None
    others: list[SimProcess] = field(default_factory=list)  # start_receiver's

    @classmethod
    def create(cls, root: Path, *, store: str | None = None, fixed_ports: bool = False,
               env: dict[str, str] | None = None,
               receiver_args: list[str] | None = None, receiver_state: bool = True) -> World:
        """A world under `root`: the demo site's own ports, or free ones (tests, bench)."""
        ports = None if fixed_ports else free_demo_ports()
        site_dir = make_site(root, ports)
        return cls(root, site_dir, store, dict(env or {}), list(receiver_args or []),
                   receiver_state)

    @property
    def site(self) -> Site:
        return load_site(self.site_dir)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> World:
        try:
            self.start_partners()
            self.stack = Stack(self.site_dir, self.data_dir, self.store, self.env).up()
        except BaseException:
            self.stop()
            raise
        return self

    def start_partners(self) -> None:
        site = self.site
        logs = self.data_dir
        logs.mkdir(parents=True, exist_ok=True)
        receiver = site.partners["mobicash"]
        payfast = site.partners["payfast"]
        from corridor.sim.identity import host_port

        host, port = host_port(receiver.endpoint)
        self.receiver = spawn_receive_partner(
            site, "mobicash", host=host, port=port, log=logs / "mobicash.log",
            extra=self._receiver_extra())
        host, port = host_port(site.partners["kenpay"].endpoint)
        self.second = spawn_receive_partner(
            site, "kenpay", host=host, port=port, log=logs / "kenpay.log",
            extra=self._receiver_extra("kenpay"))
        host, port = host_port(payfast.callback_url)
        self.inbox = spawn_send_callbacks(site, "payfast", host=host, port=port,
                                          log=logs / "payfast.log",
                                          extra=["--journal", str(logs / "payfast.jsonl")])
        self.receiver.wait_ready()
        self.second.wait_ready()
        self.inbox.wait_ready()

    def _receiver_extra(self, partner: str = "mobicash") -> list[str]:
        state = ["--state", str(self.data_dir / f"{partner}-state.json")] \
            if self.receiver_state else []
        return ["--seed", "7", *state, *self.receiver_args]

    def start_receiver(self, partner_id: str) -> SimProcess:
        """Another receive partner's simulator (the demo's ISO 20022 bank, IslaPay), up
        until `stop()`; MobiCash's is `receiver`."""
        from corridor.sim.identity import host_port

        site = self.site
        host, port = host_port(site.partners[partner_id].endpoint)
        sim = spawn_receive_partner(site, partner_id, host=host, port=port,
                                    log=self.data_dir / f"{partner_id}.log",
                                    extra=["--seed", "7"]).wait_ready()
        self.others.append(sim)
        return sim

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.down()
        for sim in (self.receiver, self.second, self.inbox, *self.others):
            if sim is not None:
                sim.stop()

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the hub's side ------------------------------------------------------------------

    def control(self, sim: SimProcess | None, method: str, path: str,
                body: Any = None) -> tuple[int, Any]:
        """Call a simulator's control API with the hub's client certificate."""
        assert sim is not None
        return control_call(sim.host, sim.port, self.site, method, path, body)

    def faults(self, sim: SimProcess | None = None, **knobs: Any) -> dict[str, Any]:
        status, body = self.control(sim or self.receiver, "PATCH", "/sim/faults", knobs)
        assert status == 200, body
        return body  # type: ignore[no-any-return]  # the simulator's JSON answer

    def wallet(self, account: str) -> dict[str, Any]:
        status, body = self.control(self.receiver, "GET", f"/sim/wallets/{account}")
        assert status == 200, body
        return body  # type: ignore[no-any-return]  # the simulator's JSON answer

    def sender_callbacks(self, transfer_id: str | None = None) -> list[dict[str, Any]]:
        path = "/sim/callbacks" + (f"?transfer_id={transfer_id}" if transfer_id else "")
        status, body = self.control(self.inbox, "GET", path)
        assert status == 200, body
        return body  # type: ignore[no-any-return]  # the simulator's JSON answer

    def receiver_callbacks(self, transfer_id: str | None = None) -> list[dict[str, Any]]:
        path = "/sim/callbacks" + (f"?transfer_id={transfer_id}" if transfer_id else "")
        status, body = self.control(self.receiver, "GET", path)
        assert status == 200, body
        return body  # type: ignore[no-any-return]  # the simulator's JSON answer

    def dsn(self) -> str:
        from corridor.store import choose_dsn

        return choose_dsn(self.site.hub.store_txn, self.store)

    def fund(self, amount: str = "100000000.00", partner: str = "payfast") -> None:
        """Record a prefunding deposit directly in TXN's store (as `ledger fund` does)."""
        from corridor.store import commit_group, open_store
        from corridor.txn.commands.floats import Fund

        site = self.site
        p = site.partners[partner]
        conn = open_store(self.dsn(), self.data_dir)
        try:
            out = commit_group(conn, [Fund(p, Money.parse(amount, p.currency),
                                        f"DEP-{new_id()}", datetime.now(UTC))])[0]
        finally:
            conn.close()
        if out.error is not None:
            raise out.error

    def query(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a read (corridor.store.reads) against TXN's store."""
        from corridor.store import open_store

        conn = open_store(self.dsn(), self.data_dir)
        try:
            return fn(conn, *args, **kwargs)
        finally:
            conn.close()

    def violations(self) -> list[str]:
        from corridor.txn.verify import violations

        site = self.site
        return self.query(lambda conn: violations(site, conn))  # type: ignore[no-any-return]  # query returns what the lambda returns
