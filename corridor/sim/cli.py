"""`corridor sim`: the partner simulators as commands.

    corridor sim receive-partner --partner mobicash [--listen H:P] [--eig URL] [faults...]
    corridor sim send-partner --partner payfast serve-callbacks [--listen H:P]
    corridor sim send-partner --partner payfast send --count N [--concurrency C]
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from corridor import processes
from corridor.clikit import fail, open_site, site_option
from corridor.sim.faults import FaultError, InjectedFaults
from corridor.sim.identity import SimError


def _listen(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _serve(start: Callable[[], Awaitable[Any]], stop: Callable[[], Awaitable[None]],
           banner: Callable[[], str]) -> None:
    """Run a simulator until SIGINT or SIGTERM; errors as one line, exit 1."""
    import uvloop

    async def main() -> None:
        await start()
        click.echo(banner(), err=True)
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        try:
            await done.wait()
        finally:
            await stop()

    processes.relax_gc()
    try:
        uvloop.run(main())
    except (SimError, OSError) as exc:
        fail(str(exc))


api_key_file_option = click.option(
    "--api-key-file", type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the partner's API key (default: the demo keys of "
         "`corridor pki bootstrap`).")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log callback retries and failures.")
def sim(verbose: bool) -> None:
    """Partner simulators that act as real remote parties over HTTPS."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@sim.command("receive-partner")
@site_option
@click.option("--partner", "partner_id", default="mobicash", show_default=True)
@click.option("--listen", help="HOST:PORT (default: the partner's endpoint in the site).")
@click.option("--eig", "eig_url", help="EIG base URL for callbacks (default: listen.eig).")
@api_key_file_option
@click.option("--latency-ms", type=click.IntRange(0), default=0, help="Added to every answer.")
@click.option("--failure-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Share of payouts that fail (nothing credited).")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Share of requests answered 500 before anything is done.")
@click.option("--hang-after-credit", is_flag=True, help="Credit, then never answer submits.")
@click.option("--no-callbacks", is_flag=True, help="Never send receiver callbacks.")
@click.option("--callback-delay-ms", type=click.IntRange(0), default=0)
@click.option("--duplicate-callbacks", "duplicate_callback", is_flag=True,
              help="Send every callback twice.")
@click.option("--callback-first", is_flag=True,
              help="Deliver the callback before answering the submit.")
@click.option("--success-after-failure", is_flag=True,
              help="After a FAILURE callback send a contradicting SUCCESS one.")
@click.option("--sync", "sync_outcome", is_flag=True,
              help="Answer SUCCESS/FAILURE at once instead of PENDING.")
@click.option("--pending-after-final", is_flag=True,
              help="After the final callback send an older in-process status (out of order).")
@click.option("--return-after-ms", type=click.IntRange(0), default=0,
              help="Give every credited payout back this long after (RETURNED); 0: never.")
@click.option("--refuse-recalls", is_flag=True,
              help="Answer every recall the hub forwards REFUSED.")
@click.option("--seed", type=int, help="Seed of the fault choices (repeatable runs).")
@click.option("--state", "state_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep payouts and wallet credits in this JSON file across restarts.")
@click.option("--sandbox", is_flag=True,
              help="Play the sandbox's test accounts (corridor.sim.scenarios).")
def receive_partner(site_dir: Path, partner_id: str, listen: str | None, eig_url: str | None,
                    api_key_file: Path | None, seed: int | None, state_file: Path | None,
                    no_callbacks: bool, sandbox: bool, **knobs: Any) -> None:
    """Run a receive partner (wallet book, payouts, signed receiver callbacks); in ISO
    20022 (pacs.008, pacs.002, pacs.028, camt.056, pacs.004) when its connector is
    `iso20022`."""
    from corridor.sim.receive import ReceivePartnerSim

    site = open_site(site_dir)
    try:
        faults = InjectedFaults()
        faults.update({**knobs, "callbacks": not no_callbacks})
        simulator = ReceivePartnerSim(
            site, partner_id, listen=_listen(listen), eig_url=eig_url,
            api_key_file=api_key_file, faults=faults, seed=seed, state_file=state_file,
            sandbox=sandbox)
    except (SimError, FaultError) as exc:
        fail(str(exc))
        return
    _serve(simulator.start, simulator.stop,
           lambda: f"{partner_id} receive simulator on {simulator.url}, callbacks to "
                   f"{simulator.eig_url}")


@sim.group("send-partner")
@site_option
@click.option("--partner", "partner_id", default="payfast", show_default=True)
@click.option("--eig", "eig_url", help="EIG base URL (default: listen.eig of the site).")
@api_key_file_option
@click.pass_context
def send_partner(ctx: click.Context, site_dir: Path, partner_id: str, eig_url: str | None,
                 api_key_file: Path | None) -> None:
    """A send partner: its callback server, and a driver that sends transfers."""
    ctx.obj = {"site_dir": site_dir, "partner_id": partner_id, "eig_url": eig_url,
               "api_key_file": api_key_file}


@send_partner.command("serve-callbacks")
@click.option("--listen", help="HOST:PORT (default: from the partner's callback_url).")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path),
              help="Also append every accepted callback to this JSONL file.")
@click.pass_obj
def serve_callbacks(obj: dict[str, Any], listen: str | None, journal: Path | None) -> None:
    """Receive and verify the hub's sender callbacks."""
    from corridor.sim.inbox import CallbackInbox

    site = open_site(obj["site_dir"])
    try:
        inbox = CallbackInbox(site, obj["partner_id"], listen=_listen(listen), journal=journal)
    except SimError as exc:
        fail(str(exc))
        return
    _serve(inbox.start, inbox.stop, lambda: f"{obj['partner_id']} callbacks on {inbox.url}")


@send_partner.command("send")
@click.option("--count", type=click.IntRange(1), default=1, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=8, show_default=True)
@click.option("--amount", default="1000.00", show_default=True,
              help="Send amount of each transfer, in the partner's currency.")
@click.option("--to", "destination",
              help="Destination country, e.g. KE (default: the first receive partner by id "
                   "with a rate from the send currency).")
@click.option("--timeout", type=click.FloatRange(0.1), default=30.0, show_default=True,
              help="Seconds to wait for one transfer's final status.")
@click.option("--callbacks/--poll", default=True, show_default=True,
              help="Wait for sender callbacks on the partner's callback_url (this process "
                   "serves it), or poll the transfer's status.")
@click.pass_obj
def send(obj: dict[str, Any], count: int, concurrency: int, amount: str,
         destination: str | None, timeout: float, callbacks: bool) -> None:
    """Send transfers through EIG and print a JSON summary."""
    import uvloop

    from corridor.sim.driver import SendDriver
    from corridor.sim.inbox import CallbackInbox

    site = open_site(obj["site_dir"])

    async def main() -> dict[str, Any]:
        inbox = CallbackInbox(site, obj["partner_id"]) if callbacks else None
        driver = SendDriver(site, obj["partner_id"], eig_url=obj["eig_url"],
                            api_key_file=obj["api_key_file"], inbox=inbox,
                            destination=destination, timeout=timeout)
        if inbox is not None:
            await inbox.start()
        try:
            async with driver:
                return (await driver.run(count, concurrency, amount)).as_dict()
        finally:
            if inbox is not None:
                await inbox.stop()

    try:
        summary = uvloop.run(main())
    except (SimError, OSError) as exc:
        fail(str(exc))
        return
    click.echo(json.dumps(summary))
    if summary["errors"]:
        raise SystemExit(1)


@sim.command("bench")
@site_option
@click.option("--partner", "partner_id", default="mobicash", show_default=True)
@click.option("--count", type=click.IntRange(1), default=5000, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=64, show_default=True)
def bench(site_dir: Path, partner_id: str, count: int, concurrency: int) -> None:
    """Measure the receive simulator alone (payouts and callbacks a second); one JSON."""
    import uvloop

    from corridor.sim.selfbench import run_bench

    site = open_site(site_dir)
    try:
        result = uvloop.run(run_bench(site, partner_id, count, concurrency))
    except (SimError, OSError) as exc:
        fail(str(exc))
        return
    click.echo(json.dumps(result))
