"""`corridor serve txn`: the internal API process and, with `--workers`, its outbox pumps
in worker processes of their own."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from corridor.clikit import (
    data_option,
    fail,
    friendly_errors,
    open_site,
    settings,
    site_option,
    store_option,
)
from corridor.processes import Workers
from corridor.store import choose_dsn, kind, open_store


@click.command()
@site_option
@data_option
@store_option
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Override hub.yaml listen.txn.")
@click.option("--workers", type=click.IntRange(0, 16), default=lambda: settings().txn_workers,
              show_default="$CORRIDOR_TXN_WORKERS, else 0",
              help="Run the payout worker and sender-callback delivery in this many processes "
                   "of their own beside the API process (0: inside it).")
@click.option("--hold-payouts", is_flag=True, default=lambda: settings().txn_hold_payouts,
              help="Accept transfers but submit no payouts (they wait in the outbox until "
                   "TXN runs without this flag; default: $CORRIDOR_TXN_HOLD_PAYOUTS).")
@friendly_errors
def serve(site_dir: Path, data_dir: Path, store: str | None, listen: str | None,
          workers: int, hold_payouts: bool) -> None:
    """Run TXN: the internal mTLS API for EIG and RPT, and the payout worker."""
    import uvloop

    from corridor.txn.server import serve as run_server
    from corridor.txn.server import serve_pumps

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    knobs = settings()
    site = open_site(site_dir)
    dsn = choose_dsn(site.hub.store_txn, store)
    kind(dsn)
    host, port = site.hub.listen["txn"].host, site.hub.listen["txn"].port
    if listen:
        host, _, port_text = listen.rpartition(":")
        port = int(port_text)
    for needed in ("hub-ca.crt", "hub/txn.crt", "hub/txn.key"):
        if not (site.root / "pki" / needed).exists():
            fail(f"{site.root}/pki/{needed} is missing (run `corridor pki bootstrap`)")
    if hold_payouts:
        logging.getLogger("corridor.txn").warning("payouts are held: none will be submitted")

    def until_signal(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run(stop)

        uvloop.run(main())

    if not workers:
        until_signal(lambda stop: run_server(site, dsn, data_dir, host, port, stop, knobs,
                                             hold_payouts=hold_payouts))
        return
    open_store(dsn, data_dir).close()  # migrate once, before any process opens the store
    pumps = Workers()
    pipes: list[int] = []
    for _ in range(workers):
        read_end, write_end = os.pipe()
        pumps.fork(lambda fd=read_end: until_signal(  # type: ignore[misc]  # binds the loop's fd as a default argument
            lambda stop: serve_pumps(site, dsn, data_dir, stop, knobs, wake_pipe=fd,
                                     hold_payouts=hold_payouts)),
            close=[write_end, *pipes])
        os.close(read_end)
        os.set_blocking(write_end, False)
        pipes.append(write_end)
    try:
        until_signal(lambda stop: run_server(site, dsn, data_dir, host, port, stop, knobs,
                                             run_pumps=False, wake_pipes=pipes))
    finally:
        pumps.stop()
