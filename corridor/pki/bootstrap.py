"""`corridor pki bootstrap`: everything a fresh site needs to run, in one idempotent step.

Creates the hub CA and the partner CA, an (empty) CRL for each (a site bootstrapped before
the hub CA had one gets it on the next run), the hub servers' certificates, every
partner's client certificate (its pin is that certificate's fingerprint, read from
pki/partners/ by the site loader), for receive partners the simulator's server
certificate, and every partner's API-key hash, callback HMAC secret and IPsec PSK (when
its tunnel uses one). Existing material is kept unless
`force`; a new CA re-issues everything it signs. New demo API keys are returned and merged
into secrets/demo-keys.json (0600), which the demo and the simulators read: the only place
a key exists in clear, and only for the demo's own partners.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from corridor.pki import authority
from corridor.pki.credentials import (
    new_api_key,
    write_api_key_hash,
    write_hmac_secret,
    write_psk,
)
from corridor.pki.crl import write_crl
from corridor.pki.files import write_secret
from corridor.pki.layout import HUB_SERVERS, Layout
from corridor.site.model import Site


@dataclass
class Report:
    created: list[str] = field(default_factory=list)  # paths relative to the site
    api_keys: dict[str, str] = field(default_factory=dict)  # new keys only


def bootstrap(site: Site, force: bool = False) -> Report:
    layout = Layout(site.root)
    report = Report()

    def note(path: object) -> None:
        report.created.append(str(path).removeprefix(f"{site.root}/"))

    new_hub_ca = authority.ensure_ca(layout.hub_ca, f"{site.hub.name} Hub CA", force)
    new_partner_ca = authority.ensure_ca(layout.partner_ca, f"{site.hub.name} Partner CA", force)
    for made, pair in ((new_hub_ca, layout.hub_ca), (new_partner_ca, layout.partner_ca)):
        if made:
            note(pair[0])
    for (crl, pair), new_ca in zip(layout.crls(), (new_partner_ca, new_hub_ca), strict=True):
        if new_ca or not crl.exists():
            crl.unlink(missing_ok=True)  # an old CA's CRL does not carry over
            write_crl(authority.load_ca(pair, "CA"), crl)
            note(crl)
    for name in HUB_SERVERS:
        cert, key = layout.hub(name)
        if force or new_hub_ca or not (cert.exists() and key.exists()):
            authority.issue_hub(site, name)
            note(cert)
    for partner in site.partners.values():
        cert, key = layout.partner(partner.id)
        if force or new_partner_ca or not cert.exists():
            authority.issue_partner(site, partner.id)
            note(cert)
        if partner.receives:
            scert, skey = layout.partner_server(partner.id)
            if force or new_partner_ca or not (scert.exists() and skey.exists()):
                authority.issue_partner_server(site, partner)
                note(scert)
        if force or not partner.api_key_file.exists():
            key_text = new_api_key()
            write_api_key_hash(partner.api_key_file, key_text)
            report.api_keys[partner.id] = key_text
            note(partner.api_key_file)
        secret = partner.callback_secret_file
        if secret is not None and (force or not secret.exists()):
            write_hmac_secret(secret)
            note(secret)
        tunnel = partner.tunnel
        if tunnel and tunnel.psk_file is not None and (force or not tunnel.psk_file.exists()):
            write_psk(tunnel.psk_file)
            note(tunnel.psk_file)
    if report.api_keys:
        known: dict[str, str] = {}
        if layout.demo_keys.exists():
            known = json.loads(layout.demo_keys.read_text("utf-8"))
        known.update(report.api_keys)
        write_secret(layout.demo_keys, (json.dumps(known, indent=2) + "\n").encode())
    return report


def demo_keys(layout: Layout) -> dict[str, str]:
    """The demo partners' API keys, as bootstrap wrote them (empty if none)."""
    if not layout.demo_keys.exists():
        return {}
    return json.loads(layout.demo_keys.read_text("utf-8"))
