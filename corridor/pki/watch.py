"""Certificate expiry: every certificate of the site (CAs, hub servers, partners) and the
CRLs, with seconds left. An expired partner certificate is the classic silent
outage of a payment hub, so `corridor pki watch` and the `/metrics` gauges make it loud.

Gauge names follow x509-certificate-exporter, so existing dashboards and alerts apply.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from corridor.pki.crl import load_crl
from corridor.pki.issue import common_name
from corridor.pki.layout import Layout

_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """'30d', '12h', '90m', '3600' -> seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h or 90m")
    return int(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True, slots=True)
class Expiry:
    path: str  # relative to the site
    kind: str  # "certificate" or "crl"
    subject_cn: str
    issuer_cn: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime

    def seconds_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds()


def scan(layout: Layout) -> list[Expiry]:
    """Every certificate and CRL, with their validity windows."""
    found: list[Expiry] = []
    for path in layout.certificates():
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            continue
        found.append(Expiry(
            path=str(path.relative_to(layout.root)), kind="certificate",
            subject_cn=common_name(cert.subject), issuer_cn=common_name(cert.issuer),
            serial=format(cert.serial_number, "x"),
            not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        ))
    for path, _ in layout.crls():
        crl = load_crl(path)
        if crl is not None and crl.next_update_utc is not None:
            found.append(Expiry(
                path=str(path.relative_to(layout.root)), kind="crl",
                subject_cn="", issuer_cn=common_name(crl.issuer), serial="",
                not_before=crl.last_update_utc, not_after=crl.next_update_utc,
            ))
    return found


def due(items: list[Expiry], within_s: int, now: dt.datetime) -> list[Expiry]:
    """Those expired or expiring within `within_s` seconds."""
    return [e for e in items if e.seconds_left(now) <= within_s]


def who_acts(layout: Layout, e: Expiry) -> str:
    """Who must act on an expiring item: a partner's client certificate waits for the
    partner's new CSR unless a renewed one is already pinned; the hub renews the rest."""
    path = layout.root / e.path
    if e.kind == "certificate" and path.parent == layout.pki / "partners":
        partner_id = path.name.removesuffix(".crt")
        if "." in partner_id:  # <id>.next.crt: the renewal itself
            return "renewed certificate: the partner switches to it"
        if layout.partner_next(partner_id)[0].exists():
            return ("renewed certificate pinned beside it: the partner switches before "
                    "the overlap ends")
        return (f"PARTNER ACTION: {partner_id} must send a new CSR "
                f"(`corridor pki renew-partner {partner_id} --csr FILE`)")
    if e.kind == "crl":
        return "the hub re-signs it: `corridor pki crl`"
    return "the hub renews it: `corridor pki renew`"


class ExpiryCollector(Collector):
    """Prometheus gauges read from the files at scrape time (so a rotation shows at once)."""

    def __init__(self, root: Path) -> None:
        self.layout = Layout(root)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = dt.datetime.now(dt.UTC)
        labels = ["filepath", "subject_CN", "issuer_CN", "serial_number"]
        after = GaugeMetricFamily(
            "x509_cert_not_after", "Certificate expiry, unix seconds", labels=labels)
        before = GaugeMetricFamily(
            "x509_cert_not_before", "Certificate start of validity, unix seconds", labels=labels)
        left = GaugeMetricFamily(
            "x509_cert_expires_in_seconds", "Seconds until the certificate expires",
            labels=labels)
        expired = GaugeMetricFamily(
            "x509_cert_expired", "1 when the certificate has expired", labels=labels)
        crl_left = GaugeMetricFamily(
            "x509_crl_expires_in_seconds", "Seconds until the CRL's nextUpdate",
            labels=["filepath", "issuer_CN"])
        for e in scan(self.layout):
            if e.kind == "crl":
                crl_left.add_metric([e.path, e.issuer_cn], e.seconds_left(now))
                continue
            values = [e.path, e.subject_cn, e.issuer_cn, e.serial]
            after.add_metric(values, e.not_after.timestamp())
            before.add_metric(values, e.not_before.timestamp())
            left.add_metric(values, e.seconds_left(now))
            expired.add_metric(values, 1.0 if e.seconds_left(now) <= 0 else 0.0)
        yield from (after, before, left, expired, crl_left)
