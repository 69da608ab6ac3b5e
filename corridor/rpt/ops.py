"""What the dashboard shows beside the money: tunnel states from the tunnel monitor's log
(DATA/net/tunnels.log, written by `corridor vpn monitor`) and the expiry of every
certificate under the site's pki/. Either is simply absent when that part is not set up."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from corridor.pki.layout import Layout


def tunnels(data_dir: Path) -> list[dict[str, str]] | None:
    """The latest state of each tunnel, or None when no monitor has run here."""
    log = data_dir / "net" / "tunnels.log"
    if not log.is_file():
        return None
    latest: dict[str, dict[str, str]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "partner" in event and "to" in event:
            latest[str(event["partner"])] = {
                "partner": str(event["partner"]), "state": str(event["to"]),
                "label": str(event.get("label") or event["to"]), "since": str(event.get("time")),
            }
    return [latest[k] for k in sorted(latest)]


def certificates(site_root: Path, now: datetime | None = None) -> list[dict[str, object]]:
    """Every certificate under pki/, soonest expiry first."""
    now = now or datetime.now(UTC)
    out = []
    for path in Layout(site_root).certificates():
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (ValueError, OSError):
            continue
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        expires = cert.not_valid_after_utc
        out.append({
            "file": str(path.relative_to(site_root)),
            "subject": str(cn[0].value) if cn else cert.subject.rfc4514_string(),
            "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days_left": (expires - now).days,
        })
    out.sort(key=lambda c: (c["days_left"], c["file"]))
    return out
