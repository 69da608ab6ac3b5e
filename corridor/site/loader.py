"""Loads the site directory into `Site` and checks it, within and across files.

`check_site` returns every fault (`file:line: message`); `load_site` returns a `Site` or
raises `SiteInvalid` with all of them. Nothing is derived from a site with faults.
"""

from __future__ import annotations

import csv
import re
from datetime import time
from pathlib import Path

from corridor.core.money import is_currency
from corridor.site.access import read_access
from corridor.site.faults import Fault, Faults, SiteInvalid
from corridor.site.fields import Reader, parse_cidr
from corridor.site.lab import check_lab, read_lab
from corridor.site.model import (
    ZONES,
    Access,
    FeeRule,
    Host,
    Hub,
    KycRule,
    Limits,
    Listen,
    Partner,
    SanctionsEntry,
    Site,
)
from corridor.site.tunnels import check_tunnel_overlaps, read_tunnel
from corridor.site.yamlines import Node, YamlFault, load_yaml

CONNECTORS = ("https-json", "in-process")
PAYOUT_METHODS = ("wallet", "bank", "cash")
LISTENERS = ("eig", "eig_internal", "txn", "rpt", "jump")
_CORRIDOR = re.compile(r"^([A-Z]{2})-([A-Z]{2})$")
_PAIR = re.compile(r"^([A-Z]{3})/([A-Z]{3})$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def load_site(root: str | Path) -> Site:
    site, faults = _read(Path(root))
    if faults or site is None:
        raise SiteInvalid(faults)
    return site


def check_site(root: str | Path) -> list[Fault]:
    return _read(Path(root))[1]


def _read(root: Path) -> tuple[Site | None, list[Fault]]:
    faults = Faults()
    if not (root / "hub.yaml").is_file():
        faults.add(Node("hub.yaml", 1), f"no hub.yaml in {root}")
        return None, faults
    fee_lines: dict[str, Node] = {}
    hub = _load(root, "hub.yaml", faults, lambda d, w: _read_hub(d, w, faults, fee_lines))
    partners = _read_partners(root, faults)
    access = Access()
    if (root / "access.yaml").is_file():
        access = _load(
            root, "access.yaml", faults, lambda d, w: read_access(d, w, root, hub, faults)
        ) or Access()
    sanctions = _read_sanctions(root, faults)
    if hub is not None:
        _check_corridors(hub, partners, fee_lines, faults)
    _check_allowlists(partners, faults)
    check_tunnel_overlaps(root, partners, faults)
    if hub is not None:
        check_lab(hub, partners, faults)
    if faults or hub is None:
        return None, faults
    return Site(root=root, hub=hub, partners=partners, access=access, sanctions=sanctions), faults


def _load(root: Path, label: str, faults: Faults, read):  # type: ignore[no-untyped-def]
    try:
        data = load_yaml(root / label, label)
    except YamlFault as exc:
        faults.add(exc.where, exc.message)
        return None
    return read(data, Node(label, 1))


def _read_hub(
    data: object, where: Node, faults: Faults, fee_lines: dict[str, Node]
) -> Hub | None:
    r = Reader(data, where, faults)
    r.allow_only(
        "hub", "listen", "hosts", "store", "quotes", "fx", "fees", "compliance", "settlement",
        "lab",
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
    for i, body in enumerate(r.list("hosts") or ()):
        hr = Reader(body, r.data["hosts"].at(i), faults, "hosts[]")
        hr.allow_only("name", "zone", "address", "ssh_port")
        name, zone, address = hr.ident("name"), hr.choice("zone", ZONES), hr.str("address")
        port = hr.int("ssh_port", 1, 65535)
        if None in (name, zone, address, port):
            continue
        if any(h.name == name for h in hosts):
            faults.add(hr.at("name"), f"duplicate host {name!r}")
        hosts.append(Host(name, zone, address, port))  # type: ignore[arg-type]
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
    if fx is not None:
        fx.allow_only("margin_bps", "rates")
        margin = fx.int("margin_bps", 0, 2000)
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
        if lo > hi:  # type: ignore[operator]
            faults.add(fr.at("min"), "fee min is above fee max")
        if corridor in fees:
            faults.add(fr.at("corridor"), f"duplicate fee rule for {corridor}")
        fee_lines[corridor] = fr.data.where
        fees[corridor] = FeeRule(corridor, cur, fixed, bps, lo, hi)  # type: ignore[arg-type]
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
        id=hub_id, name=name, public_ip=public_ip, ike_id=ike_id,  # type: ignore[arg-type]
        listen=listen, hosts=tuple(hosts),
        store_txn=store_txn, store_rpt=store_rpt, quote_ttl_s=ttl,  # type: ignore[arg-type]
        fx_margin_bps=margin, fx_rates=rates, fees=fees,  # type: ignore[arg-type]
        sanctions_threshold=threshold, kyc=kyc, settlement_cutoff=cutoff,  # type: ignore[arg-type]
        lab=lab,
    )


def _corridor(r: Reader, key: str) -> str | None:
    value = r.str(key)
    if value is not None and not _CORRIDOR.match(value):
        r.faults.add(r.at(key), f"corridor {value!r} must read SEND-RECEIVE countries, e.g. IN-KE")
        return None
    return value


def _read_partners(root: Path, faults: Faults) -> dict[str, Partner]:
    partners: dict[str, Partner] = {}
    folder = root / "partners"
    if not folder.is_dir():
        faults.add(Node("partners/", 1), "no partners/ directory")
        return partners
    for path in sorted(folder.glob("*.yaml")):
        label = f"partners/{path.name}"
        partner = _load(root, label, faults, lambda d, w: _read_partner(d, w, root, faults))
        if partner is None:
            continue
        if partner.id in partners:
            faults.add(
                Node(label, 1),
                f"duplicate partner id {partner.id!r} (also in {partners[partner.id].source})",
            )
            continue
        if path.stem != partner.id:
            faults.add(Node(label, 1), f"file name should be {partner.id}.yaml")
        partners[partner.id] = partner
    return partners


def _read_partner(data: object, where: Node, root: Path, faults: Faults) -> Partner | None:
    r = Reader(data, where, faults)
    r.allow_only(
        "id", "name", "country", "role", "currencies", "allowed_ips", "certificate", "api_key",
        "callback_url", "callback_secret", "endpoint", "connector", "payout_methods", "float",
        "limits", "tunnel", "disabled",
    )
    pid, name, country = r.ident("id"), r.str("name"), r.country("country")
    role = r.choice("role", ("send", "receive", "both"))
    currencies = r.currencies("currencies")
    allowed = r.networks("allowed_ips")
    cert = r.sub("certificate")
    subject = pin = None
    if cert is not None:
        cert.allow_only("subject", "pin_sha256")
        subject, pin = cert.str("subject"), cert.str("pin_sha256", required=False) or ""
        if pin and not re.match(r"^[0-9a-f]{64}$", pin):
            faults.add(cert.at("pin_sha256"), "pin_sha256 must be 64 lowercase hex digits")
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
    disabled = r.bool("disabled")
    if None in (pid, name, country, role, subject, api_key, callback_secret) or not currencies:
        return None
    if sends and (callback_url is None or floor is None):
        return None
    if receives and (endpoint is None or connector is None):
        return None
    return Partner(
        id=pid, name=name, country=country, role=role,  # type: ignore[arg-type]
        currencies=currencies, allowed_ips=allowed, cert_subject=subject,  # type: ignore[arg-type]
        cert_pin_sha256=pin or "", api_key_file=api_key,  # type: ignore[arg-type]
        callback_url=callback_url, callback_secret_file=callback_secret,
        endpoint=endpoint, connector=connector, payout_methods=methods,
        float_floor=floor, limits=limits, tunnel=tunnel, disabled=disabled,
        source=where.file, lines={k: r.at(k).line for k in r.data},
    )


def _check_corridors(
    hub: Hub, partners: dict[str, Partner], fee_lines: dict[str, Node], faults: Faults
) -> None:
    """Every fee rule is a corridor: a send partner in one country, a receive partner in the
    other, and a rate between their currencies; routing must not be ambiguous."""
    for corridor, rule in hub.fees.items():
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
                        if a != b and (a, b) not in hub.fx_rates:
                            faults.add(where, f"corridor {corridor}: no FX rate {a}/{b} "
                                              f"for {s.id} -> {rcv.id}")
    seen: dict[tuple[str, str], str] = {}
    for p in partners.values():
        if not p.receives:
            continue
        for cur in p.currencies:
            other = seen.get((p.country, cur))
            if other:
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
