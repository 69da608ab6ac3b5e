"""Who may call what on RPT's listener. Every caller presents a client certificate from
the hub CA (mTLS), not revoked in the hub CA's CRL; its CN decides: EIG relays partner
report requests, operators (and RPT's own command line, which holds rpt's certificate) see
everything including the dashboard."""

from __future__ import annotations

from collections.abc import Set

from corridor.core.errors import Refused
from corridor.pki.tls import PeerCertificate

REPORTS = "reports"  # a partner's transaction report and settlement statement
OPERATE = "operate"  # dashboard, compliance metrics, any partner's statements


def allowed(cn: str | None) -> frozenset[str]:
    if cn == "eig":
        return frozenset({REPORTS})
    if cn == "rpt" or cn == "operator" or (cn or "").startswith("operator-"):
        return frozenset({REPORTS, OPERATE})
    return frozenset()


def require_standing(cert: PeerCertificate | None, revoked: Set[int], now: float) -> None:
    """The certificate a connection was admitted with must still stand: not revoked since
    (`revoked`: the serials of the hub CRL in force) and not expired since (`now`: unix
    seconds). The handshake checked both once; a connection outlives that moment."""
    if cert is None:
        return  # no TLS: `require` refuses every call that needs a certificate
    if cert.serial in revoked:
        raise Refused(f"certificate {cert.common_name!r} has been revoked",
                      code="certificate_revoked")
    if now >= cert.not_after:
        raise Refused(f"certificate {cert.common_name!r} has expired",
                      code="certificate_expired")


def require(cn: str | None, what: str) -> None:
    if what not in allowed(cn):
        raise Refused(f"certificate {cn or '(none)'!r} may not use {what}",
                      code="caller_not_allowed")


def partner_for(cn: str | None, header: str | None, query: str | None) -> str:
    """The partner whose report is asked for. Through EIG it is the authenticated partner
    (`Corridor-Partner`); a different `partner=` is another partner's report: refused."""
    if cn == "eig":
        if not header:
            raise Refused("relayed report call without Corridor-Partner", code="partner_missing")
        if query and query != header:
            raise Refused("a partner may only read its own reports", code="foreign_report")
        return header
    partner = query or header
    if not partner:
        from corridor.core.errors import InvalidInput

        raise InvalidInput("partner is required", code="unknown_partner")
    return partner
