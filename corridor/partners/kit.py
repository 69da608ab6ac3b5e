"""The partner kit: everything a new partner's engineers need to connect, in one directory
(and optionally a .tar.gz), written by `corridor partner onboard`.

    README.txt        the API base URL, how to authenticate, how callbacks are signed (with
                      an example to check an implementation against), test accounts, and
                      for a send partner the sandbox (`corridor sandbox`) and its outcomes
    openapi.json      the partner API (the document EIG serves)
    hub-ca.crt        verifies EIG's server certificate
    partner-ca.crt    issued the partner's client certificate
    <id>.crt          the partner's client certificate
    <id>.key          its private key, only when the hub generated it (test partners; 0600)
    ipsec/<hub>.conf  their end of the tunnel (`corridor vpn kit`), with tunnel.json
    secrets/          only with `with_secrets`: the callback secret and the PSK (0600)

Never anything else of ours: no CA key, no server key, no other partner's material, and
never the API key, which is shown once to the operator and stored only as a hash.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import textwrap
from pathlib import Path

from corridor.core import signature
from corridor.eig.openapi import document_bytes
from corridor.net import libreswan
from corridor.pki.authority import server_names
from corridor.pki.files import write_atomic, write_secret
from corridor.pki.layout import Layout
from corridor.site.model import Partner, Site

# The example in README.txt: a made-up secret, never a partner's.
EXAMPLE_SECRET = bytes(range(32))
EXAMPLE_TIME = 1767225600  # 2026-01-01T00:00:00Z
EXAMPLE_BODY = b'{"event_id":"evt_example","transfer":{"id":"01JEXAMPLE","status":"COMPLETED"}}'
EXAMPLE_RECEIVER_BODY = b'{"transfer_id":"01JEXAMPLE","status":"SUCCESS"}'
TEST_WALLETS = 3  # demo wallets listed per receive country, besides the frozen one


def api_url(site: Site) -> str:
    """EIG's partner URL under the first name its server certificate carries."""
    listen = site.hub.listen["eig"]
    host = server_names(site, "eig")[0]
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{listen.port}"


def write_kit(site: Site, partner: Partner, folder: Path, *, url: str | None = None,
              with_secrets: bool = False, test_accounts: bool = False) -> list[str]:
    """Write the kit into `folder` (which must not exist); returns its files, relative."""
    layout = Layout(site.root)
    folder.mkdir(mode=0o700, parents=True)
    cert, key = layout.partner(partner.id)
    shutil.copyfile(layout.hub_ca[0], folder / "hub-ca.crt")
    shutil.copyfile(layout.partner_ca[0], folder / "partner-ca.crt")
    shutil.copyfile(cert, folder / f"{partner.id}.crt")
    if key.exists():
        write_secret(folder / f"{partner.id}.key", key.read_bytes())
    write_atomic(folder / "openapi.json", document_bytes())
    if partner.tunnel is not None:
        ipsec = folder / "ipsec"
        ipsec.mkdir()
        for conf in libreswan.kit_files(site, partner, with_psk=False).values():
            write_atomic(ipsec / conf.name, conf.text.encode(), conf.mode)
        summary = libreswan.kit_summary(site, partner)
        write_atomic(ipsec / "tunnel.json", (json.dumps(summary, indent=2) + "\n").encode())
    if with_secrets:
        _secrets(site, partner, folder / "secrets")
    readme = _readme(site, partner, url or api_url(site), key.exists(), with_secrets,
                     _test_accounts(site, partner) if test_accounts else [])
    write_atomic(folder / "README.txt", readme.encode())
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def write_archive(folder: Path, archive: Path) -> None:
    """The kit as one .tar.gz (0600: it may hold a private key), modes kept inside."""
    tmp = archive.with_name(f".{archive.name}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    tmp.chmod(0o600)
    tmp.replace(archive)


def _secrets(site: Site, partner: Partner, folder: Path) -> None:
    folder.mkdir(mode=0o700)
    if partner.callback_secret_file is not None:
        write_secret(folder / "callback-secret.hex", partner.callback_secret_file.read_bytes())
    if partner.tunnel is not None and partner.tunnel.auth == "psk":
        for conf in libreswan.kit_files(site, partner, with_psk=True).values():
            if conf.name.endswith(".secrets"):
                write_secret(folder / conf.name, conf.text.encode())


def _corridors(site: Site, partner: Partner) -> list[tuple[str, Partner]]:
    """The corridors a send partner can use, each with the receive partner paying out."""
    found = []
    for corridor in sorted(site.hub.tariff.fees) if partner.sends else ():
        send, receive = corridor.split("-")
        payer = next((p for p in site.partners.values()
                      if p.receives and not p.disabled and p.country == receive), None)
        if send == partner.country and payer is not None:
            found.append((corridor, payer))
    return found


def _test_accounts(site: Site, partner: Partner) -> list[str]:
    """Sandbox beneficiaries: the demo simulators' wallets in each country this partner can
    send to, and the frozen wallet whose payout fails."""
    from corridor.sim.wallets import demo_wallets

    lines = []
    for corridor, payer in _corridors(site, partner):
        lines.append(f"   {corridor} ({payer.name}, {', '.join(payer.currencies)}):")
        for account, holder in demo_wallets(payer.country, TEST_WALLETS):
            outcome = "payout fails" if "FROZEN" in holder else "pays out"
            lines.append(f"     {account:<14} {holder:<24} {outcome}")
    return lines


def _readme(site: Site, partner: Partner, url: str, own_key: bool, with_secrets: bool,
            accounts: list[str]) -> str:
    pid = partner.id
    key_line = (f"{pid}.key is its private key, made by the hub for this test partner: "
                "keep it secret (0600)." if own_key else
                "Its private key is the one you made the certificate signing request with.")
    cert_line = textwrap.fill(
        f"mutual TLS with your client certificate {pid}.crt ({partner.cert_subject}), issued "
        f"by partner-ca.crt. {key_line}", width=88, initial_indent="   - ",
        subsequent_indent="     ")
    body = EXAMPLE_BODY if partner.sends else EXAMPLE_RECEIVER_BODY
    example = signature.sign(EXAMPLE_SECRET, body, EXAMPLE_TIME)
    secret_source = ("secrets/callback-secret.hex in this kit" if with_secrets else
                     "sent to you separately")
    parts = [
        f"Corridor partner kit: {partner.name} ({pid}), for {site.hub.name}",
        "",
        "1. The API",
        f"   Base URL:  {url}",
        "   Document:  openapi.json (OpenAPI 3.1). Errors are application/problem+json with a",
        "              stable `code`. Every POST needs an Idempotency-Key header.",
        "",
        "   A request is served only when all three hold:",
        cert_line,
        f"   - it comes from an address in your allowlist: "
        f"{', '.join(str(n) for n in partner.allowed_ips)}",
        "   - your API key in `Authorization: Bearer <key>`. It is sent to you separately",
        "     and shown only once: if it is lost, ask for a new one (the old one stops).",
        "   Verify our server certificate with hub-ca.crt.",
        "",
        *_example_call(site, partner, url),
        "",
        "2. Signed callbacks",
    ]
    if partner.sends:
        parts += ["   We POST each final state (and a compliance hold) of your transfers to",
                  f"   {partner.callback_url}; answer 2xx once stored. We retry with backoff."]
    if partner.receives:
        parts += ["   Report each payout's outcome with POST /v1/callbacks/receiver, signed.",
                  f"   Our payout requests to your endpoint {partner.endpoint} are signed the",
                  "   same way; Corridor's docs/receive-partner-api.md describes them."]
    parts += [
        f"   Every body is signed with your callback secret ({secret_source}, hex):",
        "     Corridor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>",
        "   where the key is the secret's bytes (hex-decoded) and <body> the exact bytes sent.",
        f"   Refuse a signature that does not match or whose t is more than "
        f"{signature.TOLERANCE_S} s away.",
        "   Example to check an implementation against (an example secret, not yours):",
        f"     secret  {EXAMPLE_SECRET.hex()}",
        f"     body    {body.decode()}",
        f"     header  {signature.HEADER}: {example}",
        "",
        "3. The tunnel",
    ]
    if partner.tunnel is not None:
        t = partner.tunnel
        psk = ("the pre-shared key is in secrets/ of this kit" if with_secrets else
               "the pre-shared key is sent to you separately")
        if t.auth == "cert":
            psk = "it authenticates with certificates"
        parts += [f"   IPsec (IKEv2) from {t.peer_ip} to {site.hub.public_ip}: load "
                  f"ipsec/{site.hub.id}.conf", f"   into Libreswan; {psk}.",
                  "   ipsec/tunnel.json says the same for other IPsec stacks."]
    else:
        parts.append("   None: you reach the API from your allowlisted addresses directly.")
    parts += ["", "4. Test accounts"]
    parts += accounts or ["   None listed for this hub."]
    if partner.sends:
        parts += ["", *_sandbox_lines()]
    return "\n".join(parts) + "\n"


def _sandbox_lines() -> list[str]:
    """Section 5: the sandbox to build against before the tunnel is up, and what to ask
    it for each outcome (corridor.sandbox.OUTCOMES, docs/sandbox.md)."""
    from corridor.sandbox import OUTCOMES

    lines = [
        "5. The sandbox",
        "   Before your tunnel is up, build against `corridor sandbox`: the same API (EIG,",
        "   TXN and simulated partners on one host, mutual TLS, API key), with test",
        "   credentials, a funded float and requests that produce each outcome on demand.",
        "   Start with GET /v1/corridors: what you may send, the amounts, fees and KYC",
        "   fields each corridor requires, the quote lifetime and an indicative rate.",
    ]
    for o in OUTCOMES:
        text = textwrap.wrap(o.how, width=58)
        lines.append(f"     {o.status:<24} {text[0]}")
        lines += [f"     {'':<24} {more}" for more in text[1:]]
    return lines


def _example_call(site: Site, partner: Partner, url: str) -> list[str]:
    """A first request to try: a quote on the partner's first corridor (send partners), or
    the list of its transfers."""
    pid = partner.id
    lines = [f"   curl --cacert hub-ca.crt --cert {pid}.crt --key {pid}.key \\",
             '        -H "Authorization: Bearer $API_KEY" \\']
    corridors = _corridors(site, partner)
    if not corridors:
        return [*lines, f"        {url}/v1/transfers"]
    payer = corridors[0][1]
    body = json.dumps({"send_currency": partner.currency, "receive_currency": payer.currency,
                       "destination_country": payer.country,
                       "payout_method": (payer.payout_methods or ("wallet",))[0],
                       "send_amount": "1000.00"})
    return [*lines, '        -H "Idempotency-Key: $(uuidgen)" \\',
            "        -H 'Content-Type: application/json' \\",
            f"        -d '{body}' \\", f"        {url}/v1/quotes"]
