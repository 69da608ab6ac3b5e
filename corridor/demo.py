"""`corridor demo`: the seed's example flow, every hop real.

On a fresh copy of the demo site (<data>/demo/site) with its PKI and secrets, it starts TXN
and EIG (the embedded default, SQLite), MobiCash's receive simulator and PayFast's callback
server as separate processes, funds PayFast's float, and sends one INR transfer to a known
MobiCash wallet through EIG: quote, transfer, payout to MobiCash over mTLS, the wallet
credited in KES, MobiCash's receiver callback, COMPLETED, the sender callback PayFast
verifies, and a balanced ledger. Then a second corridor to IslaPay (Philippines), a bank
that speaks ISO 20022: the payout as a pacs.008, its outcome as a pacs.002. Then a third
transfer, once completed, is recalled by PayFast: MobiCash gives the funds back, the
transfer is RETURNED, the ledger reverses the payout (docs/returns.md) and PayFast hears
it. It prints each hop, then stops everything and exits 0.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from corridor.clikit import data_option, fail, settings
from corridor.core.money import format_minor
from corridor.probe import poll

T = TypeVar("T")
SEND_AMOUNT = "10000.00"
RECALLED_AMOUNT = "2500.00"
STORE = "sqlite:///txn.db"  # the demo always runs on SQLite, under its data directory


class DemoFailed(Exception):
    """A hop of the journey did not happen as it should (the message says which)."""


def _busy(host: str, port: int) -> bool:
    """Whether a server could not listen on the port. Bound as the servers bind it
    (SO_REUSEADDR): the connections a previous run left in TIME_WAIT do not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _site_ports_free() -> bool:
    """Whether the demo site's own ports are free on this host."""
    from corridor.site import demo_site, load_site

    site = load_site(demo_site())
    listens = [(v.host, v.port) for v in site.hub.listen.values()]
    from corridor.sim.identity import host_port

    urls = [site.partners["mobicash"].endpoint, site.partners["payfast"].callback_url,
            site.partners["islapay"].endpoint]
    return not any(_busy(h, p) for h, p in [*listens, *(host_port(u) for u in urls)])


def _wait(what: str, check: Callable[[], T | None], timeout: float = 15.0) -> T:
    value = poll(check, timeout, 0.05)
    if not value:
        raise DemoFailed(f"no {what} after {timeout}s")
    return value


class Journey:
    """The story, hop by hop, printed as it happens."""

    def __init__(self, data_dir: Path, console: Console, store: str | None = None) -> None:
        self.data_dir = data_dir
        self.out = console
        self.store = store  # the store commands would open without --store
        self.transfer_id: str | None = None  # the demo's transfer, once made

    def hop(self, who: str, text: str) -> None:
        self.out.print(f"[bold cyan]{who:>9}[/]  {text}")

    def run(self) -> None:
        from corridor.sim.world import World

        root = self.data_dir / "demo"
        fixed = _site_ports_free()
        world = World.create(root, fixed_ports=fixed, store=STORE,
                             env={"CORRIDOR_TRACING": "1"})
        self.out.print("[bold]Corridor demo[/]: PayFast (India, INR) -> MobiCash (Kenya, KES)")
        self.out.print(f"site {world.site_dir}" + ("" if fixed else
                       " (the demo ports are busy here: moved to free ones)"))
        with world:
            site = world.site
            eig = site.hub.listen["eig"]
            self.hop("hub", f"TXN and EIG up (EIG https://{eig.host}:{eig.port}); MobiCash "
                     f"and PayFast simulators up; mutual TLS on every hop")
            world.fund("1000000.00")
            self.hop("PayFast", "prefunds its float: 1,000,000.00 INR")
            asyncio.run(self._transfer(world))
            asyncio.run(self._iso_transfer(world))
            asyncio.run(self._recall(world))
        self.out.print("[bold green]demo complete[/]: every server stopped")
        self._afterwards(world.site_dir, world.data_dir)

    def _afterwards(self, site_dir: Path, data_dir: Path) -> None:
        """Where the demo left its site and data, and commands that read them."""
        site, data = site_dir.absolute(), data_dir.absolute()
        self.out.print(f"site  {site}", markup=False)
        self.out.print(f"data  {data} (TXN's store {STORE.removeprefix('sqlite:///')}, "
                       "the servers' logs)", markup=False)
        self.out.print("to look at them afterwards:")
        where = f"--site {shlex.quote(str(site))} --data {shlex.quote(str(data))}"
        if (self.store or STORE) != STORE:  # it would take the other store
            where += f" --store {STORE}"
        commands = ["ledger verify", "ledger balances", "transfers list"]
        if self.transfer_id is not None:
            commands.append(f"trace {self.transfer_id}")
        for command in commands:
            self.out.print(f"  {_program()} {command} {where}", markup=False)

    async def _transfer(self, world: Any) -> None:
        from corridor.sim.driver import SendDriver
        from corridor.sim.wallets import wallet_account

        site = world.site
        account = wallet_account("KE", 1)  # the driver's first transfer goes to slot 1
        before = world.wallet(account)
        self.hop("PayFast", _knock(site, "payfast"))
        async with SendDriver(site, "payfast", destination="KE", timeout=15, seed=1) as driver:
            # PayFast traces its calls and asks for them to be recorded (a sampled W3C
            # traceparent): every hop records its span, for `corridor trace`.
            driver.new_trace()
            quote = await driver.quote(SEND_AMOUNT)
            self.hop("PayFast", f"POST /v1/quotes -> quote {quote.id[:13]}..: send "
                     f"{quote.send_amount} INR + fee {quote.fee} INR = {quote.total} INR, rate "
                     f"{quote.rate} -> {quote.receive_amount} KES")
            transfer = await driver.create(quote)
            self.hop("PayFast", f"POST /v1/transfers -> {transfer.id} {transfer.status} "
                     f"(screened, {quote.total} INR reserved on the float)")
            if transfer.status != "ACCEPTED":
                raise DemoFailed(f"the transfer was {transfer.status}: {transfer.reason}")
            tid = self.transfer_id = transfer.id
            got = await asyncio.to_thread(
                _wait, "sender callback", lambda: [c for c in world.sender_callbacks(tid)
                                                  if c["status"] == "COMPLETED"])
            final = await driver.status(tid)
        history = {h.status: h.at for h in final.history or []}
        self.hop("TXN", f"payout submitted to MobiCash (POST {site.partners['mobicash'].endpoint}"
                 f"/v1/payouts, Idempotency-Key {tid[:13]}..) at {history.get('SUBMITTED')}")
        after = world.wallet(account)
        credit = next((c for c in after["credits"] if c["payout_id"] == tid), None)
        if credit is None:
            raise DemoFailed(f"wallet {account} was not credited")
        self.hop("MobiCash", f"wallet {account} ({after['holder_name']}) credited "
                 f"{credit['amount']} KES (ref {credit['partner_reference']}): balance "
                 f"{before['balance']} -> {after['balance']} KES")
        receiver = [c for c in world.receiver_callbacks(tid) if c["acknowledged"]]
        if not receiver:
            raise DemoFailed("MobiCash's receiver callback was not acknowledged")
        self.hop("MobiCash", f"receiver callback {receiver[0]['status']} -> POST "
                 "/v1/callbacks/receiver on EIG, signed, acknowledged")
        self.hop("TXN", f"{final.status} at {history.get('COMPLETED')}: pending legs "
                 "reversed, journal posted")
        if final.status != "COMPLETED":
            raise DemoFailed(f"the transfer ended {final.status}")
        self.hop("PayFast", f"sender callback {got[0]['status']} received, signature "
                 f"verified (event {got[0]['event_id'][:13]}..)")

    async def _iso_transfer(self, world: Any) -> None:
        """The second corridor: IslaPay, a Philippine bank, speaks ISO 20022."""
        from corridor.sim.driver import SendDriver

        site = world.site
        bank = site.partners["islapay"]
        sim = await asyncio.to_thread(world.start_receiver, "islapay")
        self.out.print("[bold]second corridor[/]: PayFast (India, INR) -> IslaPay "
                       "(Philippines, PHP), a bank that speaks ISO 20022")
        self.hop("IslaPay", f"simulator up at {sim.url} (BIC "
                 f"{bank.iso20022.bic if bank.iso20022 else '-'}): takes pacs.008.001.08, "
                 "answers pacs.002.001.10")
        async with SendDriver(site, "payfast", destination="PH", timeout=15, seed=2) as driver:
            quote = await driver.quote(SEND_AMOUNT)
            transfer = await driver.create(quote)
            self.hop("PayFast", f"POST /v1/transfers -> {transfer.id} {transfer.status} "
                     f"({quote.receive_amount} PHP)")
            if transfer.status != "ACCEPTED":
                raise DemoFailed(f"the ISO transfer was {transfer.status}: {transfer.reason}")
            tid = transfer.id
            await asyncio.to_thread(
                _wait, "sender callback", lambda: [c for c in world.sender_callbacks(tid)
                                                  if c["status"] == "COMPLETED"])
            final = await driver.status(tid)
        self.hop("TXN", f"pacs.008 (MsgId {tid.replace('-', '')[:13]}.., XSD-valid) POSTed "
                 f"to {bank.endpoint}/iso20022/pacs.008 over mTLS; pacs.002 ACSP back")
        status, got = world.control(sim, "GET", "/sim/callbacks?transfer_id=" + tid)
        acked = [c for c in got or [] if c["acknowledged"]] if status == 200 else []
        if not acked:
            raise DemoFailed("IslaPay's pacs.002 was not acknowledged")
        self.hop("IslaPay", "pacs.002 ACSC (settled) -> POST /v1/iso20022/pacs.002 on EIG, "
                 "signed, validated against its XSD, acknowledged")
        if final.status != "COMPLETED":
            raise DemoFailed(f"the ISO transfer ended {final.status}")
        self.hop("TXN", f"{final.status}: paid out over ISO 20022, the same engine and "
                 "ledger as the JSON corridor")

    async def _recall(self, world: Any) -> None:
        """A second transfer, completed, then recalled: it comes back as a return."""
        from corridor.core.returns import return_terms
        from corridor.sim.driver import SendDriver
        from corridor.store import reads as q

        site = world.site
        async with SendDriver(site, "payfast", destination="KE", timeout=15, seed=2) as driver:
            transfer = await driver.create(await driver.quote(RECALLED_AMOUNT))
            tid = transfer.id
            await asyncio.to_thread(
                _wait, "sender callback", lambda: [c for c in world.sender_callbacks(tid)
                                                  if c["status"] == "COMPLETED"])
            self.hop("PayFast", f"a second transfer, {tid} ({RECALLED_AMOUNT} INR), "
                     "COMPLETED; PayFast finds it went to the wrong wallet")
            recall = await driver.recall(tid, "sent to the wrong wallet")
            self.hop("PayFast", f"POST /v1/transfers/{tid[:13]}../recall -> 202 "
                     f"{recall['status']}")
            got = await asyncio.to_thread(
                _wait, "sender callback RETURNED", lambda: [
                    c for c in world.sender_callbacks(tid) if c["status"] == "RETURNED"])
        _, payout = world.control(world.receiver, "GET", f"/sim/payouts/{tid}")
        self.hop("TXN", f"recall forwarded to MobiCash (POST {site.partners['mobicash'].endpoint}"
                 f"/v1/payouts/{tid[:13]}../recall)")
        self.hop("MobiCash", "accepts: takes the payout back from the wallet (return "
                 f"{payout['return_reference']}), "
                 "receiver callback RETURNED -> EIG, signed, acknowledged")
        row = world.query(q.transfer, tid)
        terms = return_terms(row.send_minor, row.fee_minor, row.fx_margin_minor,
                             row.receive_minor)
        self.hop("TXN", f"RETURNED ({row.code}): settlement:mobicash:KES debited "
                 f"{format_minor(terms.settlement_debit, 'KES')} KES, PayFast's float credited "
                 f"{format_minor(terms.float_credit, 'INR')} INR; the fee "
                 f"{format_minor(terms.fee_kept, 'INR')} INR is kept, the FX margin given "
                 "back (docs/returns.md)")
        self.hop("PayFast", f"sender callback RETURNED received (recall {got[0]['recall']}), "
                 "signature verified")
        self._ledger(world)

    def _ledger(self, world: Any) -> None:
        from corridor.store import reads as q

        table = Table(title="ledger", show_edge=False, header_style="bold")
        for col in ("account", "currency", "posted", "pending"):
            table.add_column(col, justify="left" if col in ("account", "currency") else "right")
        sums: dict[str, int] = {}
        for account, cur, posted, pending in world.query(q.balances):
            table.add_row(account, cur, format_minor(int(posted), cur),
                          format_minor(int(pending), cur))
            sums[cur] = sums.get(cur, 0) + int(posted) + int(pending)
        self.out.print(table)
        if any(sums.values()):
            raise DemoFailed(f"the ledger does not sum to zero: {sums}")
        found = world.violations()
        if found:
            raise DemoFailed("ledger verify: " + "; ".join(found))
        self.hop("ledger", "every currency sums to zero; `ledger verify` OK: ledger verified")


def _program() -> str:
    """How to run this Corridor from a shell: `corridor` if that is the one on the PATH,
    else the path it was started by (`make demo` runs .venv/bin/corridor), else through
    this Python (`python -m corridor`)."""
    started = Path(sys.argv[0])
    if started.name != "corridor":
        return f"{shlex.quote(sys.executable)} -m corridor"
    on_path = shutil.which("corridor")
    if on_path and Path(on_path).resolve() == started.resolve():
        return "corridor"
    return shlex.quote(str(started.absolute()))


def _knock(site: Any, partner_id: str) -> str:
    """How a partner's calls reach the hub: EIG, its client certificate and its pin."""
    from cryptography import x509

    from corridor.pki.issue import fingerprint
    from corridor.pki.layout import Layout

    cert_path, _ = Layout(site.root).partner(partner_id)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    print_ = fingerprint(cert)
    partner = site.partners[partner_id]
    pinned = "matches its pin" if print_ == partner.cert_pin_sha256 else "NOT its pin"
    eig = site.hub.listen["eig"]
    return (f"calls EIG https://{eig.host}:{eig.port} from 127.0.0.1 (in its allowlist) with "
            f"its client certificate {cert.subject.rfc4514_string()}, SHA-256 "
            f"{print_[:16]}.. ({pinned}), and its API key")


@click.command()
@data_option
def demo(data_dir: Path) -> None:
    """Send one PayFast -> MobiCash remittance through the whole hub and print each hop."""
    from corridor.core.errors import CorridorError
    from corridor.sim.identity import SimError
    from corridor.stack import StackError

    console = Console(highlight=False, soft_wrap=True)
    try:
        Journey(data_dir, console, settings().txn_store).run()
    except (DemoFailed, StackError, SimError) as exc:
        fail(f"demo failed: {str(exc).splitlines()[0]} (logs in {data_dir}/demo/data)")
    except CorridorError as exc:
        fail(f"demo failed: {exc.code}: {exc.detail}")
