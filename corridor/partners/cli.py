"""`corridor partner onboard` and `corridor partner offboard` (in the `partner` group of
`corridor/eig/cli.py`), and the options that describe a partner, which `partner add`
shares. Thin: the steps are in `corridor.partners.onboard` and `.offboard`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from corridor.clikit import data_option, fail, friendly_errors, site_option, site_refused
from corridor.net.perimeter import DEFAULT_IPSEC_DIR, Applied, Target
from corridor.net.pluto import DEFAULT_CTL
from corridor.partners.spec import DEFAULT_ESP, DEFAULT_IKE, PartnerSpec, TunnelSpec
from corridor.pki.authority import LEAF_DAYS

Decorator = Callable[[Callable[..., None]], Callable[..., None]]


def _stack(*options: Decorator) -> Decorator:
    def apply(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            command = option(command)
        return command
    return apply


partner_options = _stack(
    click.option("--name", required=True),
    click.option("--country", required=True, help="ISO 3166 alpha-2, e.g. KE."),
    click.option("--role", type=click.Choice(["send", "receive", "both"]), required=True),
    click.option("--currency", "currencies", multiple=True, required=True),
    click.option("--allowed-ip", "allowed_ips", multiple=True, required=True, help="CIDR."),
    click.option("--callback-url", help="Send partners: where status callbacks go."),
    click.option("--endpoint", help="Receive partners: their payout API."),
    click.option("--connector", default="https-json", show_default=True),
    click.option("--payout-method", "payout_methods", multiple=True),
    click.option("--float-floor", default="0.00", show_default=True),
)

tunnel_options = _stack(
    click.option("--peer-ip", help="Tunnel: the partner's IKE endpoint. Without it, no tunnel."),
    click.option("--peer-id", help="Tunnel: the partner's IKE id [default: --peer-ip]."),
    click.option("--partner-subnet", "partner_subnets", multiple=True,
                 help="Tunnel: a subnet of the partner's (CIDR; repeat for more)."),
    click.option("--hub-subnet", "hub_subnets", multiple=True,
                 help="Tunnel: a subnet of the hub's it reaches (CIDR; repeat for more)."),
    click.option("--tunnel-auth", type=click.Choice(["psk", "cert"]), default="psk",
                 show_default=True),
    click.option("--ike", default=DEFAULT_IKE, show_default=True, help="Tunnel: IKE proposals."),
    click.option("--esp", default=DEFAULT_ESP, show_default=True, help="Tunnel: ESP proposals."),
    click.option("--psk-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 help="A pre-shared key agreed with the partner (32 bytes or more) instead "
                      "of a new one."),
)

perimeter_options = _stack(
    click.option("--netns", default=None, help="The firewall's network namespace [default: "
                                               "the host's]."),
    click.option("--ipsec-dir", type=click.Path(file_okay=False, path_type=Path),
                 default=DEFAULT_IPSEC_DIR, show_default=True,
                 help="Where the hub's Libreswan conns are."),
    click.option("--ctlsocket", type=click.Path(dir_okay=False, path_type=Path),
                 default=DEFAULT_CTL, show_default=True,
                 help="pluto's control socket."),
    click.option("--hub-cert", default=None,
                 help="NSS nickname of the hub's certificate [default: hub id]."),
    click.option("--no-apply", is_flag=True,
                 help="Change the site only; apply the perimeter later with `corridor "
                      "firewall apply` and `corridor vpn apply`."),
)


def _tunnel(peer_ip: str | None, peer_id: str | None,
            partner_subnets: tuple[str, ...], hub_subnets: tuple[str, ...], tunnel_auth: str,
            ike: str, esp: str, psk_file: Path | None) -> TunnelSpec | None:
    if peer_ip is None:
        given = [name for name, value in (("--peer-id", peer_id),
                                          ("--partner-subnet", partner_subnets),
                                          ("--hub-subnet", hub_subnets),
                                          ("--psk-file", psk_file)) if value]
        if given:
            fail(f"{', '.join(given)} describe a tunnel: give its --peer-ip too", code=2)
        return None
    if not partner_subnets or not hub_subnets:
        fail("a tunnel needs --partner-subnet and --hub-subnet", code=2)
    if psk_file is not None and tunnel_auth != "psk":
        fail("--psk-file is for --tunnel-auth psk", code=2)
    return TunnelSpec(peer_ip, peer_id or peer_ip, partner_subnets, hub_subnets, tunnel_auth,
                      ike, esp)


def _site_refused(refused: str) -> Decorator:
    """A faulty site (each fault as file:line: message) or a site changed underneath:
    one line each and a non-zero exit; the command's own errors are `friendly_errors`'."""
    def wrap(func: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> None:
            from corridor.site import SiteInvalid
            from corridor.site.staging import SiteChanged

            try:
                func(*args, **kwargs)
            except SiteInvalid as exc:
                site_refused(kwargs["site_dir"], exc, refused)
            except SiteChanged as exc:
                fail(f"{refused}: {exc}")
            except OSError as exc:
                fail(f"{refused}: {exc.filename or ''}: {exc.strerror or exc}")
        return run
    return wrap


def _report(applied: list[Applied]) -> bool:
    for outcome in applied:
        click.echo(str(outcome), err=not outcome.ok)
    return all(outcome.ok for outcome in applied)


@click.command()
@site_option
@data_option
@click.argument("partner_id")
@partner_options
@tunnel_options
@click.option("--csr", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The partner's certificate signing request (PEM). Without it the hub makes "
                   "the key pair (test partners) and puts the key in the kit.")
@click.option("--days", type=click.IntRange(1, 825), default=LEAF_DAYS, show_default=True,
              help="The client certificate's validity.")
@click.option("--kit", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new directory for the partner's kit.")
@click.option("--archive", is_flag=True, help="Also write the kit as KIT.tar.gz (0600).")
@click.option("--with-secrets", is_flag=True,
              help="Put the callback secret and the PSK in the kit (0600) instead of sending "
                   "them separately.")
@click.option("--api-url", help="The partner API's URL in the kit [default: from listen.eig].")
@click.option("--test-accounts", is_flag=True,
              help="List the sandbox's test accounts (the demo simulators' wallets) in the kit.")
@perimeter_options
@friendly_errors
@_site_refused("partner not onboarded; the site is unchanged")
def onboard(site_dir: Path, data_dir: Path, partner_id: str, peer_ip: str | None,
            peer_id: str | None, partner_subnets: tuple[str, ...], hub_subnets: tuple[str, ...],
            tunnel_auth: str, ike: str, esp: str, psk_file: Path | None, csr: Path | None,
            days: int, kit: Path, archive: bool, with_secrets: bool, api_url: str | None,
            test_accounts: bool, netns: str | None, ipsec_dir: Path, ctlsocket: Path,
            hub_cert: str | None, no_apply: bool, **described: Any) -> None:
    """Onboard PARTNER_ID in one step, all or nothing: its partner file, API key (printed
    once), callback secret, tunnel PSK and client certificate; the tunnels and firewall
    checked by Libreswan and nftables and the site check passed; then its kit (Libreswan
    conn, our CAs, its certificate, API URL, OpenAPI, how callbacks are signed) written to
    KIT, and the perimeter applied where it runs. Any refusal leaves the site as it was."""
    from corridor.partners import onboard as onboarding

    tunnel = _tunnel(peer_ip, peer_id, partner_subnets, hub_subnets, tunnel_auth,
                     ike, esp, psk_file)
    request = onboarding.Onboarding(
        spec=PartnerSpec(id=partner_id, tunnel=tunnel, **described), kit=kit,
        csr=csr.read_bytes() if csr else None, psk=psk_file.read_bytes() if psk_file else None,
        days=days, api_url=api_url, archive=archive, with_secrets=with_secrets,
        test_accounts=test_accounts)
    target = Target(netns, ipsec_dir, ctlsocket, hub_cert)
    done = onboarding.onboard(site_dir, request, target, data_dir, apply=not no_apply)
    click.echo(f"onboarded {partner_id}: {', '.join(done.changed)}")
    click.echo(f"certificate serial {done.serial:x} pin {done.pin}")
    click.echo(f"kit {done.kit}: {', '.join(done.kit_files)}")
    if done.archive is not None:
        click.echo(f"kit archive {done.archive}")
    applied = _report(done.applied)
    click.echo(f"api key {partner_id}: {done.api_key}")
    click.echo("(shown once; only its hash is stored: send it to the partner apart from the kit)")
    click.echo(f"TXN and RPT read the partners when they start: restart them before "
               f"{partner_id}'s first quote.")
    if not applied:
        fail("the site is onboarded but the perimeter is not applied everywhere (above)")


@click.command()
@site_option
@data_option
@click.option("--store", default=None, metavar="DSN",
              help="TXN store DSN (default: $CORRIDOR_TXN_STORE, else hub.yaml store.txn).")
@click.argument("partner_id")
@click.option("--in-flight", type=click.Choice(["refuse", "cancel", "wait"]), default="refuse",
              show_default=True,
              help="Transfers not yet final: refuse to offboard; cancel those not yet "
                   "submitted and wait for the rest; or wait for all.")
@click.option("--wait", "wait_s", type=click.FloatRange(0), default=300.0, show_default=True,
              help="cancel, wait: seconds the transfers in flight may take to end.")
@click.option("--reason", default="partner offboarded", show_default=True,
              help="Recorded on each transfer cancelled.")
@perimeter_options
@friendly_errors
@_site_refused("partner not offboarded; the site is unchanged")
def offboard(site_dir: Path, data_dir: Path, store: str | None, partner_id: str,
             in_flight: str, wait_s: float, reason: str, netns: str | None, ipsec_dir: Path,
             ctlsocket: Path, hub_cert: str | None, no_apply: bool) -> None:
    """Offboard PARTNER_ID: revoke its certificate, delete its API key and PSK, mark it
    offboarded (its history and reports stay readable), and remove its tunnel and
    allowlist, applied where they run. Refused while it has transfers in flight, unless
    --in-flight says how to treat them."""
    from corridor.clikit import settings
    from corridor.partners import offboard as offboarding
    from corridor.txn.cli.store import opened

    request = offboarding.Offboarding(partner_id, offboarding.InFlightPolicy(in_flight),
                                      wait_s, reason)
    target = Target(netns, ipsec_dir, ctlsocket, hub_cert)
    with opened(site_dir, data_dir, store or settings().txn_store) as (_, conn):
        done = offboarding.offboard(site_dir, request, conn, target, data_dir,
                                    apply=not no_apply)
    for transfer_id in done.cancelled:
        click.echo(f"{transfer_id}: CANCELLED")
    revoked = f"certificate serial {done.serial:x} revoked" if done.serial else "no certificate"
    click.echo(f"offboarded {partner_id} ({revoked}): {', '.join(done.changed)}")
    if not _report(done.applied):
        fail("the site is offboarded but the perimeter is not applied everywhere (above)")
