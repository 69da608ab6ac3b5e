"""Compliance metrics and the dashboard's time series, from the store.

Definitions (also in corridor/rpt/README.md):
- a *screening hit* is a transfer whose events carried a sanctions-screening match;
- a *hold* is a transfer that entered COMPLIANCE_HOLD; its outcome is the analyst's
  decision (`release` or `reject`), or `pending` while undecided;
- *rejections by reason* count REJECTED (and, separately, FAILED) transfers by code;
- a *large* transfer sends at least half of its send partner's per-transfer limit;
- *structuring* is one sender (by `sender_key`, no personal data) with three or more
  transfers in one business day, each within 10% under the per-transfer limit.
Periods select transfers by creation time.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import duckdb

from corridor.core.money import format_minor
from corridor.rpt.periods import Period
from corridor.site.model import Site

LARGE_FRACTION = 0.5
STRUCTURING_FRACTION = 0.9
STRUCTURING_COUNT = 3


def _limits(con: duckdb.DuckDBPyConnection, site: Site) -> None:
    """Publish the site's per-transfer limits as a temp table the queries join."""
    con.execute("CREATE OR REPLACE TEMP TABLE limits (partner VARCHAR, lim BIGINT)")
    rows = [(p.id, p.limits.per_transfer) for p in site.partners.values()
            if p.limits.per_transfer]
    if rows:
        con.executemany("INSERT INTO limits VALUES (?, ?)", rows)


def compliance(con: duckdb.DuckDBPyConnection, site: Site, period: Period,
               cutoff: time) -> dict[str, object]:
    args = {"start": period.start, "end": period.end}
    where = "created_at >= $start AND created_at < $end"
    tw = "t.created_at >= $start AND t.created_at < $end"
    hits = con.execute(f"""
        SELECT s.screening_entry, any_value(s.screening_name), count(DISTINCT t.id)
        FROM transfers t JOIN status_changes s ON s.transfer_id = t.id
        WHERE {tw} AND s.screening_entry IS NOT NULL
        GROUP BY 1 ORDER BY 3 DESC, 1""", args).fetchall()
    holds = con.execute(f"""
        SELECT coalesce(d.decision, 'pending'), count(*)
        FROM transfers t LEFT JOIN (
            SELECT transfer_id, arg_max(decision, seq) AS decision FROM decisions GROUP BY 1
        ) d ON d.transfer_id = t.id
        WHERE t.held AND {tw} GROUP BY 1 ORDER BY 1""",
        args).fetchall()
    rejected = con.execute(f"""
        SELECT status, coalesce(code, 'unspecified'), count(*) FROM transfers
        WHERE {where} AND status IN ('REJECTED', 'FAILED') GROUP BY 1, 2
        ORDER BY 1, 3 DESC, 2""", args).fetchall()
    corridors = con.execute(f"""
        SELECT corridor, send_currency, count(*),
               count(*) FILTER (WHERE status = 'COMPLETED'),
               coalesce(sum(send_amount) FILTER (WHERE status = 'COMPLETED'), 0)
        FROM transfers WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2""", args).fetchall()
    _limits(con, site)
    large = con.execute(f"""
        SELECT t.id, t.send_partner, t.sender_key, t.send_amount, t.send_currency, t.status,
               t.created_at
        FROM transfers t JOIN limits l ON l.partner = t.send_partner
        WHERE {tw}
          AND t.send_amount >= l.lim * {LARGE_FRACTION}
        ORDER BY t.send_amount DESC, t.id LIMIT 200""", args).fetchall()
    cut = cutoff.hour * 60 + cutoff.minute
    structuring = con.execute(f"""
        SELECT t.send_partner, t.sender_key,
               CAST(t.created_at - INTERVAL '{cut} minutes' + INTERVAL 1 DAY AS DATE) AS day,
               count(*), sum(t.send_amount), any_value(t.send_currency), any_value(l.lim)
        FROM transfers t JOIN limits l ON l.partner = t.send_partner
        WHERE {tw}
          AND t.send_amount >= l.lim * {STRUCTURING_FRACTION} AND t.send_amount <= l.lim
          AND t.sender_key IS NOT NULL
        GROUP BY 1, 2, 3 HAVING count(*) >= {STRUCTURING_COUNT}
        ORDER BY 4 DESC, 1, 2""", args).fetchall()
    return {
        "from": period.start.isoformat(), "to": period.end.isoformat(),
        "screening_hits": {
            "transfers": sum(n for *_, n in hits),
            "by_entry": [{"entry": e, "name": n, "transfers": c} for e, n, c in hits],
        },
        "holds": {outcome: n for outcome, n in holds},
        "rejections": [{"status": s, "code": c, "count": n} for s, c, n in rejected],
        "corridors": [
            {"corridor": c, "currency": cur, "transfers": n, "completed": done,
             "value_completed": format_minor(int(v), cur)}
            for c, cur, n, done, v in corridors
        ],
        "large": [
            {"transfer_id": i, "partner": p, "sender_key": k[:12] if k else None,
             "amount": format_minor(a, c), "currency": c, "status": s,
             "created_at": t.isoformat()}
            for i, p, k, a, c, s, t in large
        ],
        "structuring": [
            {"partner": p, "sender_key": k[:12], "business_day": d.isoformat(),
             "transfers": n, "total": format_minor(int(tot), c), "currency": c,
             "limit": format_minor(int(lim), c)}
            for p, k, d, n, tot, c, lim in structuring
        ],
    }


def _bucket(period: Period) -> int:
    """Seconds per chart bucket: about 48 buckets over the period, at least a minute."""
    span = (period.end - period.start).total_seconds()
    for size in (60, 300, 900, 1800, 3600, 7200, 21600, 86400):
        if span / size <= 60:
            return size
    return 86400


def series(con: duckdb.DuckDBPyConnection, period: Period) -> dict[str, object]:
    """Volume, success rate and payout latency over time, for the dashboard's charts.
    Transfers are counted in the bucket where they reached their current state."""
    size = _bucket(period)
    rows = con.execute(f"""
        SELECT time_bucket(INTERVAL '{size} seconds', status_at,
                           TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b,
               count(*) FILTER (WHERE status = 'COMPLETED'),
               count(*) FILTER (WHERE status IN ('FAILED', 'REJECTED', 'CANCELLED',
                                                 'RETURNED')),
               count(*) FILTER (WHERE status NOT IN
                   ('COMPLETED', 'FAILED', 'REJECTED', 'CANCELLED', 'RETURNED')),
               quantile_cont(epoch(completed_at - created_at), 0.5)
                   FILTER (WHERE status = 'COMPLETED' AND NOT held),
               quantile_cont(epoch(completed_at - created_at), 0.95)
                   FILTER (WHERE status = 'COMPLETED' AND NOT held)
        FROM transfers WHERE status_at >= $start AND status_at < $end
        GROUP BY 1 ORDER BY 1""", {"start": period.start, "end": period.end}).fetchall()
    points = []
    for b, done, bad, open_, p50, p95 in rows:
        finished = done + bad
        points.append({
            "t": b.isoformat(), "completed": done, "unsuccessful": bad, "in_flight": open_,
            "success_rate": round(done / finished, 4) if finished else None,
            "latency_p50_s": round(p50, 3) if p50 is not None else None,
            "latency_p95_s": round(p95, 3) if p95 is not None else None,
        })
    return {"bucket_s": size, "points": points}


def recent(now: datetime, hours: int = 24) -> Period:
    """The dashboard's window: the last `hours` up to now."""
    return Period(now - timedelta(hours=hours), now + timedelta(seconds=1))
