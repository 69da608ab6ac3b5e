"""`corridor serve eig` and `corridor partner ...` (add, show, key rotate, disable; the
one-step `onboard` and `offboard` come from `corridor.partners`). Partner commands edit the
site directory, the one source of truth; a running EIG picks the change up within a second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from corridor.clikit import data_option, fail, open_site, settings, site_option, site_refused
from corridor.partners.cli import offboard, onboard, partner_options
from corridor.partners.spec import PartnerSpec, api_key_ref, callback_secret_ref
from corridor.pki.credentials import new_api_key, write_api_key_hash, write_hmac_secret
from corridor.site import SiteInvalid
from corridor.site.edit import SiteEdit, partner_document
from corridor.site.model import Partner, Site


@click.command()
@site_option
@data_option
@click.option("--host", help="Partner listener address (default: the site's listen.eig).")
@click.option("--port", type=click.IntRange(0, 65535), help="Partner listener port.")
@click.option("--internal-port", type=click.IntRange(0, 65535),
              help="Port of /healthz and /metrics (default: the site's listen.eig_internal).")
@click.option("--txn-url", help="TXN's internal API (default: from the site's listen.txn).")
@click.option("--rpt-url", help="RPT's reports (default: from the site's listen.rpt).")
@click.option("--rate", type=click.FloatRange(0.1), default=None,
              help="Requests a second per partner and process (token bucket).")
@click.option("--burst", type=click.IntRange(1), default=None, help="Bucket size.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes sharing the port (SO_REUSEPORT).")
@click.option("--hello", is_flag=True, hidden=True, help="Serve GET /v1/hello (bench).")
def serve(site_dir: Path, data_dir: Path, host: str | None, port: int | None,
          internal_port: int | None, txn_url: str | None, rpt_url: str | None,
          rate: float | None,
          burst: int | None, workers: int, hello: bool) -> None:
    """Run EIG, the partner gateway (mutual TLS, allowlist, API keys, rate limits)."""
    from corridor.eig.ratelimit import DEFAULT_BURST, DEFAULT_RATE
    from corridor.eig.server import Options, run
    from corridor.pki.layout import Layout
    from corridor.pki.tls import MissingCredentials, hub_client, partner_listener

    open_site(site_dir)  # faults as file:line before anything starts
    layout = Layout(site_dir)
    try:  # the workers build the same contexts
        partner_listener(layout)
        hub_client(layout, "eig")
    except MissingCredentials as exc:
        fail(str(exc))
    run(Options(site_dir=site_dir, data_dir=data_dir, host=host, port=port,
                internal_port=internal_port, txn_url=txn_url, rpt_url=rpt_url,
                rate=rate or DEFAULT_RATE, burst=burst or DEFAULT_BURST, hello=hello,
                settings=settings()), workers)


@click.group()
def partner() -> None:
    """Onboard and manage partners: onboard, offboard, add, show, key rotate, disable."""


partner.add_command(onboard)
partner.add_command(offboard)


@partner.command()
@site_option
@click.argument("partner_id")
@partner_options
def add(site_dir: Path, partner_id: str, **options: Any) -> None:
    """Add PARTNER_ID: writes partners/PARTNER_ID.yaml and its secrets, prints the API key
    once (only its hash is kept). Issue its certificate next with `corridor pki issue`;
    `corridor partner onboard` does all of it, tunnel and kit included, in one step."""
    site = open_site(site_dir)
    spec = PartnerSpec(id=partner_id, **options)
    target = f"partners/{partner_id}.yaml"
    if (site_dir / target).exists():
        fail(f"{site_dir / target} exists already")
    edit = SiteEdit(site_dir)
    edit.create(target, partner_document(spec.fields()))
    # Checked before the secrets are written, so that a refused partner leaves nothing;
    # the file is written last, once what it names is there.
    _apply(edit, site_dir, f"{partner_id} not added", check_only=True)
    key = new_api_key()
    write_api_key_hash(site.path(api_key_ref(partner_id)), key)
    hmac_path = site.path(callback_secret_ref(partner_id))
    if not hmac_path.exists():
        write_hmac_secret(hmac_path)
    _apply(edit, site_dir, f"{partner_id} not added")
    click.echo(f"added {site_dir / target}")
    click.echo(f"api key {partner_id}: {key}")
    click.echo("(shown once; only its hash is stored)")


def _apply(edit: SiteEdit, site_dir: Path, refused: str, check_only: bool = False) -> None:
    """Check (and unless `check_only`, write) a site edit; on a fault or a file that cannot
    be written, say so and exit, with the site as it was."""
    try:
        edit.check() if check_only else edit.commit()
    except SiteInvalid as exc:
        site_refused(site_dir, exc, refused)
    except OSError as exc:
        fail(f"{refused}: cannot write {exc.filename or site_dir}: {exc.strerror or exc}")


def _partner_or_fail(site_dir: Path, partner_id: str) -> tuple[Site, Partner]:
    site = open_site(site_dir)
    found = site.partner(partner_id)
    if found is None:
        fail(f"no partner {partner_id!r} in {site_dir}/partners")
    return site, found


@partner.command()
@site_option
@click.argument("partner_id")
def show(site_dir: Path, partner_id: str) -> None:
    """What the site says about PARTNER_ID (never its secrets)."""
    from corridor.pki.issue import load_issued
    from corridor.pki.layout import Layout

    _, p = _partner_or_fail(site_dir, partner_id)
    cert = Layout(site_dir).partner(partner_id)[0]
    expiry = "none issued"
    if cert.exists():
        expiry = f"{load_issued(cert).cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z"
    rows = [
        ("id", p.id), ("name", p.name), ("country", p.country), ("role", p.role),
        ("currencies", ", ".join(p.currencies)),
        ("allowed_ips", ", ".join(str(n) for n in p.allowed_ips)),
        ("certificate", p.cert_subject), ("pin_sha256", p.cert_pin_sha256 or "(not pinned)"),
        ("certificate expires", expiry),
        ("api key", "set" if p.api_key_file.exists() else "missing"),
        ("callback_url", p.callback_url or "-"), ("endpoint", p.endpoint or "-"),
        ("disabled", "yes" if p.disabled else "no"),
        ("offboarded", p.offboarded or "no"),
    ]
    for label, value in rows:
        click.echo(f"{label + ':':21} {value}")


@partner.group()
def key() -> None:
    """A partner's API key."""


@key.command()
@site_option
@click.argument("partner_id")
def rotate(site_dir: Path, partner_id: str) -> None:
    """Replace PARTNER_ID's API key; prints the new key once. The old one stops working."""
    _, p = _partner_or_fail(site_dir, partner_id)
    new = new_api_key()
    write_api_key_hash(p.api_key_file, new)
    click.echo(f"api key {partner_id}: {new}")
    click.echo("(shown once; only its hash is stored)")


@partner.command()
@site_option
@click.argument("partner_id")
def disable(site_dir: Path, partner_id: str) -> None:
    """Refuse every request of PARTNER_ID (sets `disabled: true` in its YAML)."""
    _, p = _partner_or_fail(site_dir, partner_id)
    edit = SiteEdit(site_dir)
    edit.set(p.source, ("disabled",), True)
    _apply(edit, site_dir, f"{partner_id} not disabled")
    click.echo(f"disabled {partner_id}")
