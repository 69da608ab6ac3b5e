"""`corridor pki ...`: the hub's CAs, partner client certificates, revocation and expiry."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from corridor.clikit import fail, open_site, site_option
from corridor.pki import authority
from corridor.pki.bootstrap import bootstrap as run_bootstrap
from corridor.pki.issue import fingerprint
from corridor.pki.layout import HUB_SERVERS, Layout
from corridor.pki.watch import due, parse_duration, scan, who_acts


@click.group()
def pki() -> None:
    """The hub PKI: CAs, server and partner certificates, CRLs, expiry watch."""


def _run(action):  # type: ignore[no-untyped-def]  # wraps click callbacks of any signature
    """Operator errors become one `error: ...` line and exit 1."""
    try:
        return action()
    except authority.PkiError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror}")


@pki.command()
@site_option
@click.option("--force", is_flag=True, help="Replace existing CAs, certificates and secrets.")
def bootstrap(site_dir: Path, force: bool) -> None:
    """Create everything a fresh site needs (idempotent; keeps existing material).

    New demo API keys are printed once and kept in secrets/demo-keys.json (0600).
    """
    site = open_site(site_dir)
    report = _run(lambda: run_bootstrap(site, force=force))
    for path in report.created:
        click.echo(f"created {path}")
    for partner_id, key in sorted(report.api_keys.items()):
        click.echo(f"api key {partner_id}: {key}")
    if not report.created:
        click.echo(f"{site_dir}: PKI and secrets already complete")


def _csr(path: Path | None) -> bytes | None:
    return path.read_bytes() if path is not None else None


csr_option = click.option(
    "--csr", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The partner's certificate signing request (PEM). Without it a key pair is made.")


@pki.command()
@site_option
@click.argument("partner_id")
@csr_option
@click.option("--days", type=click.IntRange(1, 825), default=authority.LEAF_DAYS, show_default=True)
def issue(site_dir: Path, partner_id: str, csr: Path | None, days: int) -> None:
    """Issue PARTNER's client certificate (pki/partners/PARTNER.crt), which pins it."""
    site = open_site(site_dir)
    issued = _run(lambda: authority.issue_partner(site, partner_id, _csr(csr), days))
    cert, _ = Layout(site.root).partner(partner_id)
    click.echo(f"issued {cert} serial {issued.cert.serial_number:x} "
               f"pin {fingerprint(issued.cert)}")


@pki.command()
@site_option
@click.argument("partner_id")
@csr_option
def rotate(site_dir: Path, partner_id: str, csr: Path | None) -> None:
    """Issue PARTNER a new certificate, move the pin to it and revoke the old one."""
    site = open_site(site_dir)
    issued = _run(lambda: authority.rotate_partner(site, partner_id, _csr(csr)))
    click.echo(f"rotated {partner_id}: serial {issued.cert.serial_number:x} "
               f"pin {fingerprint(issued.cert)}")


def _duration(text: str) -> dt.timedelta:
    try:
        return dt.timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        fail(str(exc), code=2)


@pki.command()
@site_option
@click.option("--within", default="30d", show_default=True,
              help="Renew the hub certificates that expire within this long (30d, 12h).")
def renew(site_dir: Path, within: str) -> None:
    """Renew the hub servers' certificates (eig, txn, rpt) that expire soon, and close the
    partner overlaps that have ended (the old certificate is revoked).

    Run it daily from a timer. The servers take a renewed certificate for their next
    connections, without a restart; connections already open finish as they are.
    """
    window = _duration(within)
    site = open_site(site_dir)
    for name, issued in _run(lambda: authority.renew_hub(site, window)).items():
        cert = issued.cert
        click.echo(f"renewed {Layout(site.root).hub(name)[0].relative_to(site.root)} serial "
                   f"{cert.serial_number:x} until {cert.not_valid_after_utc:%Y-%m-%d}")
    for partner_id, serial in _run(lambda: authority.close_overlaps(site)):
        click.echo(f"overlap closed for {partner_id}: its renewed certificate is the only pin, "
                   f"serial {serial:x} revoked")


@pki.command("renew-partner")
@site_option
@click.argument("partner_id")
@csr_option
@click.option("--overlap", default="14d", show_default=True,
              help="How long the old and the new certificate are both accepted.")
@click.option("--days", type=click.IntRange(1, 825), default=authority.LEAF_DAYS, show_default=True)
def renew_partner(site_dir: Path, partner_id: str, csr: Path | None, overlap: str,
                  days: int) -> None:
    """Issue PARTNER a renewed certificate from its new CSR, accepted beside the current one
    until the overlap ends; then `pki renew` revokes the old one."""
    window = _duration(overlap)
    site = open_site(site_dir)
    issued, ends = _run(lambda: authority.renew_partner(site, partner_id, _csr(csr), window,
                                                        days))
    cert, _ = Layout(site.root).partner_next(partner_id)
    click.echo(f"issued {cert} serial {issued.cert.serial_number:x} "
               f"pin {fingerprint(issued.cert)}; both certificates accepted until "
               f"{ends:%Y-%m-%dT%H:%M:%SZ}")


@pki.command()
@site_option
@click.argument("partner_id")
def revoke(site_dir: Path, partner_id: str) -> None:
    """Revoke PARTNER's current certificate.

    Within a second, without a restart, EIG refuses it: a new connection fails the TLS
    handshake, and a connection already open gets 403 certificate_revoked at its next
    request and is closed. Both are written to EIG's security audit log.
    """
    site = open_site(site_dir)
    serial = _run(lambda: authority.revoke_partner(site, partner_id))
    click.echo(f"revoked {partner_id} serial {serial:x}")


@pki.command()
@site_option
@click.argument("name", type=click.Choice(HUB_SERVERS))
def server(site_dir: Path, name: str) -> None:
    """Re-issue a hub server's certificate (eig, txn, rpt) from the hub CA."""
    site = open_site(site_dir)
    issued = _run(lambda: authority.issue_hub(site, name))
    click.echo(f"issued {Layout(site.root).hub(name)[0]} until "
               f"{issued.cert.not_valid_after_utc:%Y-%m-%d}")


@pki.command()
@site_option
def crl(site_dir: Path) -> None:
    """Re-sign the partner CRL (EIG) and the hub CRL (RPT) with a fresh nextUpdate."""
    site = open_site(site_dir)
    for path in _run(lambda: authority.refresh_crls(site)):
        click.echo(f"signed {path}")


@pki.command("list")
@site_option
def list_(site_dir: Path) -> None:
    """Every certificate (and the CRLs) with its expiry."""
    now = dt.datetime.now(dt.UTC)
    for e in scan(Layout(site_dir)):
        days = e.seconds_left(now) / 86400
        click.echo(f"{e.path:40} {e.subject_cn or '-':18} {e.not_after:%Y-%m-%d %H:%M}Z "
                   f"{days:8.1f}d")


@pki.command()
@site_option
@click.option("--within", default="30d", show_default=True,
              help="Report what expires within this long (30d, 12h, 90m).")
def watch(site_dir: Path, within: str) -> None:
    """Report certificates and CRLs that have expired or expire soon; exit 1 if any."""
    try:
        window = parse_duration(within)
    except ValueError as exc:
        fail(str(exc), code=2)
    now = dt.datetime.now(dt.UTC)
    layout = Layout(site_dir)
    items = scan(layout)
    if not items:
        fail(f"no certificates under {site_dir}/pki", code=2)
    found = due(items, window, now)
    for e in found:
        left = e.seconds_left(now)
        state = "EXPIRED" if left <= 0 else f"expires in {left / 86400:.1f}d"
        what = e.subject_cn or e.kind
        click.echo(f"{e.path}: {what} {state} ({e.not_after:%Y-%m-%dT%H:%M:%SZ}) "
                   f"- {who_acts(layout, e)}")
    if found:
        sys.exit(1)
    click.echo(f"{len(items)} certificate(s) valid beyond {within}")
