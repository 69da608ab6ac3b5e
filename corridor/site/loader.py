"""Loads the site directory into `Site` and checks it, within and across files.

`check_site` returns every fault (`file:line: message`); `load_site` returns a `Site` or
raises `SiteInvalid` with all of them. Nothing is derived from a site with faults.
`check_site` also checks a site as an edit would leave it, from the edit's new texts.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from datetime import time
from pathlib import Path

from corridor.core.compliance import KycRule, SanctionsEntry
from corridor.core.counterparty import Limits
from corridor.core.errors import InvalidInput
from corridor.core.fx import DEFAULT_BAND_BPS
from corridor.core.money import is_currency
from corridor.core.pricing import FeeRule, Tariff
from corridor.core.times import parse_time
from corridor.pki.issue import fingerprint, load_issued
from corridor.pki.layout import Layout
from corridor.site.access import read_access
from corridor.site.faults import Fault, Faults, SiteInvalid
from corridor.site.fields import Reader, parse_cidr
from corridor.site.iso20022 import read_iso20022
from corridor.site.lab import check_lab, read_lab
from corridor.site.model import ZONES, Access, CallbackRetry, Host, Hub, Listen, Partner, Site
from corridor.site.routing import check_routes, read_routes, routed
from corridor.site.tunnels import check_tunnel_overlaps, read_tunnel
from corridor.site.yamlines import Node, SiteYaml, YamlFault

CONNECTORS = ("https-json", "iso20022", "in-process")
PAYOUT_METHODS = ("wallet", "bank", "cash")
LISTENERS = ("eig", "eig_internal", "txn", "rpt", "jump")
_CORRIDOR = re.compile(r"^([A-Z]{2})-([A-Z]{2})$")
_PAIR = re.compile(r"^([A-Z]{3})/([A-Z]{3})$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def load_site(root: str | Path) -> Site:
    site, faults = _read(SiteYaml(Path(root)))
    if faults or site is None:
        raise SiteInvalid(faults)
    return site


def check_site(root: str | Path, pending: Mapping[str, str] | None = None) -> list[Fault]:
    """Every fault of the site; with `pending` (site-relative name -> text), of the site as
    it would be with those files written."""
    return _read(SiteYaml(Path(root), pending))[1]


def _read(files: SiteYaml) -> tuple[Site | None, list[Fault]]:
    root = files.root
    faults = Faults()
    if not files.exists("hub.yaml"):
        faults.add(Node("hub.yaml", 1), f"no hub.yaml in {root}")
        return None, faults
    fee_lines: dict[str, Node] = {}
    route_lines: dict[tuple[str, str], Node] = {}
    hub = _load(files, "hub.yaml", faults,
                lambda d, w: _read_hub(d, w, faults, fee_lines, route_lines))
    partners = _read_partners(files, faults)
    access = Access()
    if files.exists("access.yaml"):
        access = _load(
            files, "access.yaml", faults, lambda d, w: read_access(d, w, root, hub, faults)
        ) or Access()
    sanctions = _read_sanctions(root, faults)
    if hub is not None:
        _check_corridors(hub, partners, fee_lines, faults)
        check_routes(hub, partners, route_lines, faults)
    _check_allowlists(partners, faults)
    check_tunnel_overlaps(files, partners, faults)
    if hub is not None:
        check_lab(hub, partners, faults)
    if faults or hub is None:
        return None, faults
    return Site(root=root, hub=hub, partners=partners, access=access, sanctions=sanctions), faults


def _load(files: SiteYaml, label: str, faults: Faults, read):  # type: ignore[no-untyped-def]  # read is a per-file reader callback
    try:
        data = files.load(label)
    except YamlFault as exc:
        faults.add(exc.where, exc.message)
        return None
    return read(data, Node(label, 1))


def _read_hub(
    data: object, where: Node, faults: Faults, fee_lines: dict[str, Node],
    route_lines: dict[tuple[str, str], Node] | None = None,
) -> Hub | None:
    r = Reader(data, where, faults)
    r.allow_only(
        "hub", "listen", "hosts", "store", "quotes", "fx", "fees", "compliance", "settlement",
        "lab", "routing",
    )
    ident = r.sub("hub")
    listen: dict[str, Listen] = {}
    hosts: list[Host] = []
    if ident is not None:
        ident.allow_only("id", "name", "public_ip", "ike_id")
    listen_r = r.sub("listen")
    if listen_r is not None:
        listen_r.allow_only(*LISTENERS)
        for name in LISTENERS:
            lr = listen_r.sub(name)
            if lr is None:
                continue
            lr.allow_only("host", "port")
            host, port = lr.str("host"), lr.int("port", 1, 65535)
            if host is not None and port is not None:
                listen[name] = Listen(host, port)
        _check_listeners(listen, listen_r)
    for i, body in enumerate(r.list("hosts") or ()):
        hr = Reader(body, r.data["hosts"].at(i), faults, "hosts[]")
        hr.allow_only("name", "zone", "address", "ssh_port")
        name, zone, address = hr.ident("name"), hr.choice("zone", ZONES), hr.str("address")
        port = hr.int("ssh_port", 1, 65535)
        if None in (name, zone, address, port):
            continue
        if any(h.name == name for h in hosts):
            faults.add(hr.at("name"), f"duplicate host {name!r}")
        hosts.append(Host(name, zone, address, port))  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
    store = r.sub("store")
    store_txn = store_rpt = None
    if store is not None:
        store.allow_only("txn", "rpt")
        store_txn, store_rpt = store.str("txn"), store.str("rpt")
        if store_txn is not None and not store_txn.startswith(("sqlite:///", "postgresql://")):
            faults.add(store.at("txn"), "store.txn must be sqlite:///PATH or postgresql://...")
    quotes = r.sub("quotes")
    ttl = quotes.int("ttl_seconds", 10, 86400) if quotes is not None else None
    fx = r.sub("fx")
    margin, rates = None, {}
    max_age, band = None, DEFAULT_BAND_BPS
    if fx is not None:
        fx.allow_only("margin_bps", "rates", "max_age_seconds", "band_bps")
        margin = fx.int("margin_bps", 0, 2000)
        max_age = fx.int("max_age_seconds", 5, 7 * 86400, required=False)
        band = fx.int("band_bps", 1, 10000, required=False) or DEFAULT_BAND_BPS
        items = fx.list("rates")
        for i, body in enumerate(items or ()):
            rr = Reader(body, items.at(i), faults, "fx.rates[]")
            rr.allow_only("pair", "rate")
            pair, rate = rr.str("pair"), rr.decimal("rate")
            m = _PAIR.match(pair or "")
            if pair is not None and m is None:
                faults.add(rr.at("pair"), f"pair {pair!r} must read BASE/QUOTE, e.g. INR/KES")
                continue
            unknown = [c for c in m.groups() if not is_currency(c)] if m else []
            for cur in unknown:
                faults.add(rr.at("pair"), f"unknown currency {cur!r}")
            if m and rate is not None and not unknown:
                if m.groups() in rates:
                    faults.add(rr.at("pair"), f"duplicate rate for {pair}")
                rates[m.groups()] = rate
    fees: dict[str, FeeRule] = {}
    items = r.list("fees")
    for i, body in enumerate(items or ()):
        fr = Reader(body, items.at(i), faults, "fees[]")
        fr.allow_only("corridor", "currency", "fixed", "percent_bps", "min", "max")
        corridor = _corridor(fr, "corridor")
        cur = fr.currency("currency")
        fixed, lo, hi = fr.amount("fixed", cur), fr.amount("min", cur), fr.amount("max", cur)
        bps = fr.int("percent_bps", 0, 10000)
        if None in (corridor, cur, fixed, lo, hi, bps):
            continue
        if lo > hi:  # type: ignore[operator]  # the None check above
            faults.add(fr.at("min"), "fee min is above fee max")
        if corridor in fees:
            faults.add(fr.at("corridor"), f"duplicate fee rule for {corridor}")
        fee_lines[corridor] = fr.data.where
        fees[corridor] = FeeRule(corridor, cur, fixed, bps, lo, hi)  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
    comp = r.sub("compliance")
    threshold, kyc = None, {}
    if comp is not None:
        comp.allow_only("sanctions_threshold", "kyc")
        threshold = comp.int("sanctions_threshold", 50, 100)
        items = comp.list("kyc", required=False)
        for i, body in enumerate(items or ()):
            kr = Reader(body, items.at(i), faults, "compliance.kyc[]")
            kr.allow_only("corridor", "sender", "beneficiary")
            corridor = _corridor(kr, "corridor")
            if corridor is not None:
                kyc[corridor] = KycRule(
                    corridor,
                    kr.strings("sender", required=False),
                    kr.strings("beneficiary", required=False),
                )
    settle = r.sub("settlement")
    cutoff = None
    if settle is not None:
        settle.allow_only("cutoff")
        text = settle.str("cutoff")
        m = _HHMM.match(text or "")
        if text is not None and m is None:
            faults.add(settle.at("cutoff"), f"cutoff {text!r} must be HH:MM (UTC)")
        elif m:
            cutoff = time(int(m.group(1)), int(m.group(2)))
    routes = read_routes(r, faults, route_lines if route_lines is not None else {})
    lab_r = r.sub("lab", required=False)
    lab = read_lab(lab_r, [(h.name, h.zone) for h in hosts]) if lab_r is not None else None
    if ident is None or (lab_r is not None and lab is None):
        return None
    hub_id, name = ident.ident("id"), ident.str("name")
    public_ip, ike_id = ident.str("public_ip"), ident.str("ike_id")
    values = (hub_id, name, public_ip, ike_id, store_txn, store_rpt, ttl, margin, threshold, cutoff)
    if None in values:
        return None
    return Hub(
        id=hub_id, name=name, public_ip=public_ip, ike_id=ike_id,  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
        listen=listen, hosts=tuple(hosts),
        store_txn=store_txn, store_rpt=store_rpt,  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
        tariff=Tariff(quote_ttl_s=ttl, fx_margin_bps=margin,  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
                      fx_rates=rates, fees=fees, fx_max_age_s=max_age, fx_band_bps=band),
        sanctions_threshold=threshold, kyc=kyc, settlement_cutoff=cutoff,  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
        lab=lab, routes=routes,
    )


def _check_listeners(listen: dict[str, Listen], r: Reader) -> None:
    """Two servers cannot listen on one port of one address; `::` takes the port on every
    address, `0.0.0.0` on every IPv4 one."""
    names = list(listen)
    for i, name in enumerate(names):
        a = listen[name]
        for other in names[:i]:
            b = listen[other]
            hosts = {a.host, b.host}
            if a.port == b.port and (
                len(hosts) == 1 or "::" in hosts
                or ("0.0.0.0" in hosts and not any(":" in h for h in hosts))
            ):
                r.faults.add(r.at(name), f"listen.{name} {a.host}:{a.port} is taken by "
                                         f"listen.{other} {b.host}:{b.port}")


def _corridor(r: Reader, key: str) -> str | None:
    value = r.str(key)
    if value is not None and not _CORRIDOR.match(value):
        r.faults.add(r.at(key), f"corridor {value!r} must read SEND-RECEIVE countries, e.g. IN-KE")
        return None
    return value


def _read_partners(files: SiteYaml, faults: Faults) -> dict[str, Partner]:
    partners: dict[str, Partner] = {}
    if not (files.root / "partners").is_dir():
        faults.add(Node("partners/", 1), "no partners/ directory")
        return partners
    for label in files.labels("partners"):
        partner = _load(files, label, faults,
                        lambda d, w: _read_partner(d, w, files.root, faults))
        if partner is None:
            continue
        if partner.id in partners:
            faults.add(
                Node(label, 1),
                f"duplicate partner id {partner.id!r} (also in {partners[partner.id].source})",
            )
            continue
        if label != f"partners/{partner.id}.yaml":
            faults.add(Node(label, 1), f"file name should be {partner.id}.yaml")
        partners[partner.id] = partner
    return partners


def _read_partner(data: object, where: Node, root: Path, faults: Faults) -> Partner | None:
    r = Reader(data, where, faults)
    r.allow_only(
        "id", "name", "country", "role", "currencies", "allowed_ips", "certificate", "api_key",
        "callback_url", "callback_secret", "endpoint", "connector", "payout_methods", "float",
        "limits", "tunnel", "disabled", "offboarded", "callback_retry",
        "limits", "tunnel", "disabled", "offboarded", "iso20022",
    )
    pid, name, country = r.ident("id"), r.str("name"), r.country("country")
    role = r.choice("role", ("send", "receive", "both"))
    currencies = r.currencies("currencies")
    allowed = r.networks("allowed_ips")
    cert = r.sub("certificate")
    subject = None
    if cert is not None:
        if "pin_sha256" in cert.data:
            faults.add(cert.at("pin_sha256"), "certificate.pin_sha256 is not read from here: "
                       f"the pin is taken from pki/partners/{pid or '<id>'}.crt; delete this line")
        cert.allow_only("subject", "pin_sha256")
        subject = cert.str("subject")
    api_key = r.ref("api_key", root)
    sends = role in ("send", "both")
    receives = role in ("receive", "both")
    callback_url = r.https_url("callback_url", required=sends)
    callback_secret = r.ref("callback_secret", root, required=True)
    endpoint = r.https_url("endpoint", required=receives)
    connector = r.choice("connector", CONNECTORS, required=receives)
    methods = r.strings("payout_methods", required=receives)
    for m in methods:
        if m not in PAYOUT_METHODS:
            faults.add(r.at("payout_methods"), f"unknown payout method {m!r}")
    currency = currencies[0] if currencies else None
    floor = None
    float_r = r.sub("float", required=sends)
    if float_r is not None:
        float_r.allow_only("floor")
        floor = float_r.amount("floor", currency)
    limits = Limits()
    lim = r.sub("limits", required=False)
    if lim is not None:
        lim.allow_only("per_transfer", "per_sender_daily")
        limits = Limits(
            lim.amount("per_transfer", currency, required=False),
            lim.amount("per_sender_daily", currency, required=False),
        )
    tunnel_r = r.sub("tunnel", required=False)
    tunnel = read_tunnel(tunnel_r, root) if tunnel_r is not None else None
    retry = _callback_retry(r, sends)
    disabled = r.bool("disabled")
    offboarded = _offboarded(r, disabled)
    iso_r = r.sub("iso20022", required=connector == "iso20022")
    iso = read_iso20022(iso_r, faults) if iso_r is not None else None
    if None in (pid, name, country, role, subject, api_key, callback_secret) or not currencies:
        return None
    if sends and (callback_url is None or floor is None):
        return None
    if receives and (endpoint is None or connector is None):
        return None
    layout = Layout(root)
    pin = _issued_pin(root, layout.partner(pid)[0], faults)  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
    next_pin = _issued_pin(root, layout.partner_next(pid)[0], faults)  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
    return Partner(
        id=pid, name=name, country=country, role=role,  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
        currencies=currencies, allowed_ips=allowed, cert_subject=subject,  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
        cert_pin_sha256=pin, cert_next_pin_sha256=next_pin, api_key_file=api_key,  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
        callback_url=callback_url, callback_secret_file=callback_secret,
        endpoint=endpoint, connector=connector, payout_methods=methods,
        float_floor=floor, limits=limits, tunnel=tunnel, disabled=disabled,
        offboarded=offboarded, source=where.file, lines={k: r.at(k).line for k in r.data},
        callback_retry=retry,
        iso20022=iso,
    )


def _callback_retry(r: Reader, sends: bool) -> CallbackRetry | None:
    """`callback_retry: {backoff_s: 1, backoff_max_s: 300, retry_for_s: 86400}`: a send
    partner's own sender-callback schedule (seconds; docs/payouts-and-callbacks.md)."""
    sub = r.sub("callback_retry", required=False)
    if sub is None:
        return None
    if not sends:
        r.faults.add(r.at("callback_retry"), "callback_retry is for send partners only")
        return None
    sub.allow_only("backoff_s", "backoff_max_s", "retry_for_s")
    first = sub.int("backoff_s", 1, 3600)
    cap = sub.int("backoff_max_s", 1, 86400)
    period = sub.int("retry_for_s", 60, 30 * 86400)
    if None in (first, cap, period):
        return None
    if first > cap:  # type: ignore[operator]  # the None check above
        r.faults.add(sub.at("backoff_s"), "callback_retry.backoff_s is above backoff_max_s")
        return None
    return CallbackRetry(float(first), float(cap), float(period))  # type: ignore[arg-type]  # the None check above


def _offboarded(r: Reader, disabled: bool) -> str | None:
    """When `corridor partner offboard` closed the partner (RFC 3339, UTC). Its certificate
    is revoked and its key and PSK are gone: it cannot be enabled again by editing a flag."""
    value = r.str("offboarded", required=False)
    if value is None:
        return None
    try:
        parse_time(value)
    except InvalidInput:
        r.faults.add(r.at("offboarded"), f"offboarded {value!r} must be an RFC 3339 time "
                                         "with its offset, e.g. 2025-01-31T09:00:00Z")
        return None
    if not disabled:
        r.faults.add(r.at("offboarded"), "an offboarded partner must stay `disabled: true`; "
                                         "onboard it again under a new id instead")
    return value


def _issued_pin(root: Path, path: Path, faults: Faults) -> str:
    """A partner's pin: the fingerprint of the client certificate `corridor pki` issued it
    (pki/partners/<id>.crt, or <id>.next.crt during a renewal), "" until there is one. The
    tools write the certificate, never the operator's partner file, so the pin cannot drift
    from it and a checkout stays clean."""
    try:
        return fingerprint(load_issued(path).cert)
    except FileNotFoundError:
        return ""
    except ValueError:
        faults.add(Node(str(path.relative_to(root)), 1), "not a PEM certificate")
        return ""


def _check_corridors(
    hub: Hub, partners: dict[str, Partner], fee_lines: dict[str, Node], faults: Faults
) -> None:
    """Every fee rule is a corridor: a send partner in one country, a receive partner in the
    other, and a rate between their currencies; routing must not be ambiguous."""
    for corridor, rule in hub.tariff.fees.items():
        where = fee_lines[corridor]
        send_country, receive_country = corridor.split("-")
        senders = [p for p in partners.values() if p.sends and p.country == send_country]
        receivers = [p for p in partners.values() if p.receives and p.country == receive_country]
        if not senders:
            faults.add(where, f"fee corridor {corridor}: no send partner in {send_country}")
        if not receivers:
            faults.add(where, f"fee corridor {corridor}: no receive partner in {receive_country}")
        for s in senders:
            if rule.currency not in s.currencies:
                faults.add(where, f"fee corridor {corridor} charges {rule.currency}, "
                                  f"but {s.id} sends {', '.join(s.currencies)}")
            for rcv in receivers:
                for a in s.currencies:
                    for b in rcv.currencies:
                        if a != b and (a, b) not in hub.tariff.fx_rates:
                            faults.add(where, f"corridor {corridor}: no FX rate {a}/{b} "
                                              f"for {s.id} -> {rcv.id}")
    seen: dict[tuple[str, str], str] = {}
    for p in partners.values():
        if not p.receives:
            continue
        for cur in p.currencies:
            other = seen.get((p.country, cur))
            if other and not routed(hub, p.country, cur, partners):
                faults.add(Node(p.source, 1), f"routing to {p.country}/{cur} is ambiguous: "
                                              f"{other} and {p.id} both pay out there")
            seen[(p.country, cur)] = p.id


def _check_allowlists(partners: dict[str, Partner], faults: Faults) -> None:
    """Two partners may not share a source address: the IP must name one partner."""
    items = list(partners.values())
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            for na in a.allowed_ips:
                for nb in b.allowed_ips:
                    if na.version == nb.version and na.overlaps(nb):
                        where = Node(b.source, b.lines.get("allowed_ips", 1))
                        faults.add(where, f"allowed_ips {nb} of {b.id} overlaps {na} of {a.id} "
                                          f"({a.where('allowed_ips')}): a source IP must name "
                                          "one partner")


def _read_sanctions(root: Path, faults: Faults) -> tuple[SanctionsEntry, ...]:
    entries: list[SanctionsEntry] = []
    folder = root / "sanctions"
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else ():
        label = f"sanctions/{path.name}"
        lines = [
            (n, line) for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if not lines:
            continue
        reader = csv.reader(line for _, line in lines)
        header = next(reader)
        need = ("id", "name", "aliases", "country", "program")
        if tuple(h.strip() for h in header) != need:
            faults.add(Node(label, lines[0][0]), f"header must be {','.join(need)}")
            continue
        for (n, _), row in zip(lines[1:], reader, strict=False):
            if len(row) != len(need) or not row[0].strip() or not row[1].strip():
                faults.add(Node(label, n), "row must have id, name, aliases, country, program")
                continue
            aliases = tuple(a.strip() for a in row[2].split(";") if a.strip())
            entries.append(SanctionsEntry(row[0].strip(), row[1].strip(), aliases,
                                          row[3].strip(), row[4].strip(), f"{label}:{n}"))
    return tuple(entries)


__all__ = ["check_site", "load_site", "parse_cidr"]
