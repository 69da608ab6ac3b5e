"""Reconciliation with TXN: RPT's totals, turned into the ledger movements they imply,
compared account by account with TXN's posted ledger activity for the same period.

From RPT's store, for [from, to): each transfer COMPLETED in the period moves, per the
core's ledger rules, `float:<sender>:<CUR>` by -(send + fee), `revenue:fee:<CUR>` by the fee,
`revenue:fx:<CUR>` by the FX margin, `fx:position:<CUR>` by send - margin,
`fx:position:<RCUR>` by -receive and `settlement:<receiver>:<RCUR>` by +receive; each
prefunding moves `float` by +amount and `bank` by -amount; each transfer RETURNED in the
period moves what `core.returns.return_moves` says. Any account whose figure differs
from TXN's `GET /internal/v1/ledger/activity` is a difference.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import duckdb
import msgspec

from corridor.core.errors import Unavailable
from corridor.core.ledger import (
    bank_account,
    fee_revenue_account,
    float_account,
    fx_position_account,
    fx_revenue_account,
    settlement_account,
)
from corridor.core.money import format_minor
from corridor.core.returns import return_moves
from corridor.httppool import Pool, TransportError
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client
from corridor.rpt.feed import txn_url
from corridor.rpt.periods import Period
from corridor.site.model import Site

Activity = dict[tuple[str, str], int]

_COMPLETED = """
SELECT send_partner, send_currency, receive_partner, receive_currency,
       sum(send_amount), sum(fee), sum(fx_margin), sum(receive_amount)
FROM transfers WHERE completed_at >= $start AND completed_at < $end GROUP BY ALL
"""
_RETURNED = """
SELECT send_partner, send_currency, receive_partner, receive_currency,
       sum(send_amount), sum(fee), sum(fx_margin), sum(receive_amount)
FROM transfers WHERE returned_at >= $start AND returned_at < $end GROUP BY ALL
"""
_FUNDED = """
SELECT partner, currency, sum(amount) FROM fundings
WHERE funded_at >= $start AND funded_at < $end GROUP BY ALL
"""


@dataclass(frozen=True, slots=True)
class Difference:
    account: str
    currency: str
    rpt: int
    txn: int

    def __str__(self) -> str:
        c = self.currency
        return (f"{self.account}: RPT {format_minor(self.rpt, c)} {c}, TXN "
                f"{format_minor(self.txn, c)} {c} (off by {format_minor(self.rpt - self.txn, c)})")


def expected_activity(con: duckdb.DuckDBPyConnection, period: Period) -> Activity:
    args = {"start": period.start, "end": period.end}
    out: Activity = {}

    def add(account: str, currency: str, amount: int) -> None:
        out[(account, currency)] = out.get((account, currency), 0) + int(amount)

    for sp, sc, rp, rc, send, fee, margin, recv in con.execute(_COMPLETED, args).fetchall():
        add(float_account(sp, sc), sc, -(send + fee))
        add(fee_revenue_account(sc), sc, fee)
        add(fx_revenue_account(sc), sc, margin)
        add(fx_position_account(sc), sc, send - margin)
        add(fx_position_account(rc), rc, -recv)
        add(settlement_account(rp, rc), rc, recv)
    for sp, sc, rp, rc, send, fee, margin, recv in con.execute(_RETURNED, args).fetchall():
        for leg in return_moves(sp, sc, rp, rc, int(send), int(fee), int(margin), int(recv)):
            add(leg.account, leg.currency, leg.amount)
    for partner, cur, amount in con.execute(_FUNDED, args).fetchall():
        add(float_account(partner, cur), cur, amount)
        add(bank_account(partner, cur), cur, -amount)
    return {k: v for k, v in out.items() if v}


def compare(rpt: Activity, txn: Activity) -> list[Difference]:
    keys = sorted(set(rpt) | set(txn))
    return [Difference(a, c, rpt.get((a, c), 0), txn.get((a, c), 0))
            for a, c in keys if rpt.get((a, c), 0) != txn.get((a, c), 0)]


class _Row(msgspec.Struct):
    account: str
    currency: str
    posted: int


async def _fetch(context: ssl.SSLContext, period: Period, base_url: str) -> Activity:
    query = urlencode({"from": period.start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                       "to": period.end.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
    target = f"{urlsplit(base_url).path.rstrip('/')}/internal/v1/ledger/activity?{query}"
    pool = Pool(base_url, context, 1, timeout=300)  # a long period takes TXN a while
    try:
        resp = await pool.request("GET", target, {})
    finally:
        pool.close()
    if resp.status != 200:
        raise Unavailable(f"TXN answered {resp.status} for the ledger activity",
                          code="txn_unavailable")
    body = resp.body
    out: Activity = {}
    for row in msgspec.json.decode(body, type=list[_Row]):
        out[(row.account, row.currency)] = out.get((row.account, row.currency), 0) + row.posted
    return {k: v for k, v in out.items() if v}


def txn_activity(site: Site, period: Period, base_url: str | None = None) -> Activity:
    """TXN's posted ledger movement in the period, over its internal mTLS API."""
    try:
        context = hub_client(Layout(site.root), "rpt")
    except OSError as exc:  # ssl.SSLError too
        raise Unavailable(f"cannot read RPT's client certificate: {exc}",
                          code="txn_unavailable") from None
    try:
        return asyncio.run(_fetch(context, period, base_url or txn_url(site)))
    except TransportError as exc:
        raise Unavailable(f"cannot reach TXN: {exc}", code="txn_unavailable") from None
