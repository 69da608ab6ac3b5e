"""`corridor sandbox`: the hub as a send partner's developers meet it before their tunnel is
up. On the embedded default (SQLite, every server on this host) it runs TXN and EIG with
the partner simulators behind them (MobiCash playing the sandbox's test accounts, PayFast's
callback inbox), a treasury feed that keeps the fed pairs' rates fresh, and PayFast's float
funded; and prints how to call it and which request produces which outcome (OUTCOMES,
docs/sandbox.md). It keeps its site under DATA/sandbox/site, so its credentials stay the
same from one run to the next, and runs until Ctrl-C or SIGTERM.

The rates: hub.yaml gets `fx.max_age_seconds` (MAX_AGE_S); the feed pushes every pair
but those of STALE_PAIRS every FEED_EVERY_S, so the Philippines corridor (INR/PHP) is
always stale: its quotes are refused 503 `rates_stale`, as any corridor's would be when the
treasury's feed stops.
"""

from __future__ import annotations

import json
import shlex
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corridor.clikit import data_option, fail

if TYPE_CHECKING:
    from corridor.sim.world import World

STORE = "sqlite:///txn.db"  # the embedded default, under the sandbox's data directory
MAX_AGE_S = 600
FEED_EVERY_S = 60.0
STALE_PAIRS = frozenset({("INR", "PHP")})
FEED_SOURCE = "sandbox-treasury"
FLOAT = "100000000.00"
# Short enough that an UNKNOWN payout is resolved in a few seconds.
ENV = {
    "CORRIDOR_CONNECTOR_TIMEOUT_S": "2",
    "CORRIDOR_CONNECTOR_RETRIES": "1",
    "CORRIDOR_CONNECTOR_BACKOFF_S": "0.1",
    "CORRIDOR_TXN_LEASE_S": "5",
    "CORRIDOR_PAYOUT_RETRY_S": "1",
    "CORRIDOR_PAYOUT_POLL_S": "2",
    "CORRIDOR_PAYOUT_POLL_MAX_S": "5",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # what GET /v1/transfers/{id} ends with (or the quote's answer)
    how: str  # the request that produces it


# Which request produces which outcome, for PayFast (IN, INR) sending to Kenya (KE, KES,
# MobiCash wallets) unless said otherwise. corridor.sim.scenarios plays the wallets.
OUTCOMES = (
    Outcome("COMPLETED", "any demo wallet, e.g. beneficiary.account 254700000001 "
                         "(254700000001..254700000400)"),
    Outcome("FAILED", "beneficiary.account 254700999999 (a frozen wallet)"),
    Outcome("COMPLIANCE_HOLD", "beneficiary.name (or sender.name) \"Viktor Malenko\", a name "
                               "on the sandbox's sanctions list"),
    Outcome("UNKNOWN, then COMPLETED", "beneficiary.account 254700999001: MobiCash credits it "
                                       "but its answers are lost; the hub asks again and "
                                       "completes it within seconds, paid once"),
    Outcome("503 rates_stale", "a quote to the Philippines (destination_country PH, PHP): "
                               "its rate is never fed here, so it is always stale"),
    Outcome("422 limit_exceeded", "a quote beyond GET /v1/corridors' send_amount.max or "
                                  "receive_amount.max"),
    Outcome("REJECTED limit_exceeded", "the same sender (name and id_number) beyond "
                                       "per_sender_daily in one UTC day"),
    Outcome("INFO_REQUESTED", "hold a transfer (\"Viktor Malenko\"), then ask as the "
                              "analyst with the command printed below; answer with POST "
                              "/v1/transfers/ID/documents"),
    Outcome("RETURNED", "beneficiary.account 254700999002: COMPLETED, then MobiCash gives "
                        "the funds back 3 s later; or POST /v1/transfers/ID/recall on any "
                        "COMPLETED transfer"),
)


class Sandbox:
    """The sandbox's world under `root` (DATA/sandbox)."""

    def __init__(self, root: Path, *, free_ports: bool = False) -> None:
        self.root = root
        self.free_ports = free_ports  # never the demo site's ports, even when free
        self.site_dir = root / "site"
        self.world: World | None = None
        self._stop = threading.Event()
        self._feeder: threading.Thread | None = None

    def prepare(self) -> Path:
        """The sandbox's site: made once (the demo site's ports when free here), kept."""
        from corridor.demo import _site_ports_free
        from corridor.sim.world import make_site
        from corridor.site.edit import set_value
        from corridor.site.shipped import free_demo_ports

        if not (self.site_dir / "hub.yaml").exists():
            ports = None if not self.free_ports and _site_ports_free() else free_demo_ports()
            make_site(self.root, ports)
            set_value(self.site_dir, "hub.yaml", ["fx", "max_age_seconds"], MAX_AGE_S)
        return self.site_dir

    def start(self) -> Sandbox:
        from corridor.sim.world import World

        self.prepare()
        world = World(self.root, self.site_dir, STORE, dict(ENV), ["--sandbox"])
        self.world = world
        world.start()
        try:
            world.fund(FLOAT)
            self.feed()
        except BaseException:
            world.stop()
            raise
        self._feeder = threading.Thread(target=self._feed_loop, name="sandbox-feed",
                                        daemon=True)
        self._feeder.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._feeder is not None:
            self._feeder.join()
        if self.world is not None:
            self.world.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def feed(self) -> list[str]:
        """Push every fed pair's rate now (hub.yaml's value, fresh); the pairs pushed."""
        from corridor.site import load_site
        from corridor.store import open_existing
        from corridor.txn import fx

        site = load_site(self.site_dir)
        tariff = site.hub.tariff
        conn = open_existing(STORE, self.root / "data")
        pushed = []
        try:
            for pair, rate in sorted(tariff.fx_rates.items()):
                if pair in STALE_PAIRS:
                    continue
                fx.push(conn, tariff, "/".join(pair), str(rate), source=FEED_SOURCE,
                        by="sandbox", now=datetime.now(UTC))
                pushed.append("/".join(pair))
        finally:
            conn.close()
        return pushed

    def _feed_loop(self) -> None:
        while not self._stop.wait(FEED_EVERY_S):
            try:
                self.feed()
            except Exception as exc:  # the next round tries again; quotes go stale if not
                click.echo(f"sandbox: rates feed failed: {exc}", err=True)

    def credentials(self) -> dict[str, str]:
        """How PayFast's developers call the sandbox: URL, files, API key."""
        from corridor.pki.layout import Layout
        from corridor.site import load_site

        site = load_site(self.site_dir)
        layout = Layout(site.root)
        eig = site.hub.listen["eig"]
        cert, key = layout.partner("payfast")
        keys = json.loads(layout.demo_keys.read_text())
        return {"url": f"https://{eig.host}:{eig.port}", "partner": "payfast",
                "cacert": str(layout.hub_ca[0]), "cert": str(cert), "key": str(key),
                "api_key": keys["payfast"],
                "callbacks": str(self.root / "data" / "payfast.jsonl"),
                "site": str(self.site_dir), "data": str(self.root / "data")}


def banner(creds: dict[str, str]) -> str:
    q = shlex.quote
    lines = [
        f"Corridor sandbox: EIG {creds['url']} as PayFast ({creds['partner']}), mutual TLS",
        f"  --cacert {q(creds['cacert'])}",
        f"  --cert {q(creds['cert'])} --key {q(creds['key'])}",
        f"  -H 'Authorization: Bearer {creds['api_key']}'",
        f"  first call:  curl ... {creds['url']}/v1/corridors",
        f"  sender callbacks land in {creds['callbacks']} (or poll GET /v1/transfers/ID)",
        "outcomes on demand:",
    ]
    for o in OUTCOMES:
        lines.append(f"  {o.status:<26} {o.how}")
    lines.append(f"the analyst's side (hold a transfer, then): corridor compliance request-info "
                 f"ID --ask '...' --analyst sandbox --site {q(creds['site'])} "
                 f"--data {q(creds['data'])}")
    lines.append("Ctrl-C stops it; its site and data stay under the sandbox directory.")
    return "\n".join(lines)


@click.command()
@data_option
@click.option("--fresh", is_flag=True,
              help="Start over: a new site (new credentials) and an empty store.")
@click.option("--free-ports", is_flag=True,
              help="Listen on free ports rather than the demo site's (when first made).")
def sandbox(data_dir: Path, fresh: bool, free_ports: bool) -> None:
    """Run the hub with the partner simulators for a send partner's developers to build
    against (docs/sandbox.md): test accounts and amounts produce each outcome on demand."""
    import shutil

    from corridor.core.errors import CorridorError
    from corridor.sim.identity import SimError
    from corridor.stack import StackError

    root = data_dir / "sandbox"
    if fresh and root.exists():
        shutil.rmtree(root)
    box = Sandbox(root, free_ports=free_ports)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        box.start()
    except (StackError, SimError, CorridorError, OSError) as exc:
        fail(f"sandbox failed to start: {str(exc).splitlines()[0]} (logs in {root}/data)")
    try:
        click.echo(banner(box.credentials()), nl=True)
        while not done.wait(0.5):
            pass
    finally:
        box.stop()

