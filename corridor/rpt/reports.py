"""A partner's transaction report for a period, as CSV or JSON.

A row per transfer created in the period in which the partner took part. A send partner
sees its transfers in full (amounts, fee, what its float paid, rate, status and why); a
receive partner sees the payouts it was asked to make, without the sender's fee or rate.
The hub's FX margin is never in a partner's report.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import duckdb
import msgspec

from corridor.core.money import format_minor
from corridor.rpt.periods import Period
from corridor.rpt.settlement import check_partner
from corridor.site.model import Site

COLUMNS = (
    "transfer_id", "role", "reference", "created_at", "status", "status_at", "completed_at",
    "corridor", "counterparty", "send_amount", "send_currency", "fee", "float_debited",
    "rate", "receive_amount", "receive_currency", "code", "reason", "returned_at",
)

_ROWS = """
SELECT id, CASE WHEN send_partner = $partner THEN 'send' ELSE 'receive' END AS role,
       reference, created_at, status, status_at, completed_at, corridor,
       CASE WHEN send_partner = $partner THEN receive_partner ELSE send_partner END,
       send_amount, send_currency, fee, rate, receive_amount, receive_currency, code, reason,
       returned_at
FROM transfers
WHERE (send_partner = $partner OR receive_partner = $partner)
  AND created_at >= $start AND created_at < $end
ORDER BY created_at, id
"""


def _time(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def transaction_rows(
    con: duckdb.DuckDBPyConnection, site: Site, partner: str, period: Period
) -> list[dict[str, str]]:
    check_partner(site, partner)
    rows = []
    args = {"partner": partner, "start": period.start, "end": period.end}
    for (tid, role, ref, created, status, status_at, completed, corridor, other, send, scur,
         fee, rate, recv, rcur, code, reason, returned) in con.execute(_ROWS, args).fetchall():
        sender = role == "send"
        rows.append({
            "transfer_id": tid, "role": role, "reference": ref if sender else "",
            "created_at": _time(created), "status": status, "status_at": _time(status_at),
            "completed_at": _time(completed), "corridor": corridor, "counterparty": other,
            "send_amount": format_minor(send, scur) if sender else "",
            "send_currency": scur if sender else "",
            "fee": format_minor(fee, scur) if sender else "",
            "float_debited": format_minor(send + fee, scur) if sender else "",
            "rate": rate if sender else "",
            "receive_amount": format_minor(recv, rcur), "receive_currency": rcur,
            "code": code or "", "reason": reason or "", "returned_at": _time(returned),
        })
    return rows


def to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def to_json(partner: str, period: Period, rows: list[dict[str, str]]) -> bytes:
    return msgspec.json.encode({
        "partner": partner, "from": _time(period.start), "to": _time(period.end),
        "count": len(rows), "transfers": rows,
    })
