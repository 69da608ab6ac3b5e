"""The daily settlement statement per partner and currency.

Semantics (also in corridor/rpt/README.md):
- a business day runs from cut-off to cut-off (hub.yaml `settlement.cutoff`, UTC; see
  `periods`), and a transfer settles on the business day in which it COMPLETED; failed,
  rejected, cancelled and unfinished transfers never settle (TXN posts nothing for them);
- per send partner and currency: count, gross sent (send amounts), fees, FX margin and the
  total debited from its prefunded float (send amount + fee), which is exactly the posted
  movement of TXN's `float:<partner>:<CUR>` from those transfers;
- per receive partner and currency: count and gross paid out (receive amounts), exactly the
  posted credit of `settlement:<partner>:<CUR>`;
- the net position of a partner in a currency is what the hub owes it for payouts less
  what its float was debited; the instruction says who pays whom: the hub pays a receive
  partner what it paid out; a send partner owes nothing, its float was debited (prefunded).
Prefunding deposits of the day are listed beside, as they moved the float too.
- a return settles on the business day in which the transfer was RETURNED, by the rule of
  `core.returns`: the send partner's float is credited (`float_credited`), the receive
  partner's settlement account gives back what it paid out (`taken_back`); both net into
  the positions, so a transfer completed and returned on the same day nets to its fee.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb

from corridor.core.errors import InvalidInput
from corridor.core.money import format_minor, parse_minor
from corridor.core.returns import return_terms
from corridor.core.times import parse_time
from corridor.rpt.amounts import grouped
from corridor.rpt.periods import Period
from corridor.site.model import Site

_SIDES = """
SELECT GROUPING(send_partner) AS receive_side,
       coalesce(send_partner, receive_partner) AS partner,
       coalesce(send_currency, receive_currency) AS currency,
       count(*), sum(send_amount), sum(fee), sum(fx_margin), sum(receive_amount)
FROM transfers
WHERE completed_at >= $start AND completed_at < $end
  AND ($partner IS NULL OR send_partner = $partner OR receive_partner = $partner)
GROUP BY GROUPING SETS ((send_partner, send_currency), (receive_partner, receive_currency))
"""

_RETURNS = """
SELECT GROUPING(send_partner) AS receive_side,
       coalesce(send_partner, receive_partner) AS partner,
       coalesce(send_currency, receive_currency) AS currency,
       count(*), sum(send_amount), sum(fee), sum(fx_margin), sum(receive_amount)
FROM transfers
WHERE returned_at >= $start AND returned_at < $end
  AND ($partner IS NULL OR send_partner = $partner OR receive_partner = $partner)
GROUP BY GROUPING SETS ((send_partner, send_currency), (receive_partner, receive_currency))
"""

_DEPOSITS = """
SELECT partner, currency, count(*), sum(amount) FROM fundings
WHERE funded_at >= $start AND funded_at < $end AND ($partner IS NULL OR partner = $partner)
GROUP BY ALL ORDER BY ALL
"""


@dataclass(frozen=True, slots=True)
class SendLine:
    partner: str
    currency: str
    count: int
    gross_sent: int
    fees: int
    fx_margin: int
    returned: int = 0  # transfers given back this day
    float_credited: int = 0  # what their returns gave back to the float

    @property
    def debited(self) -> int:
        """What the float was debited: every send amount plus its fee."""
        return self.gross_sent + self.fees


@dataclass(frozen=True, slots=True)
class ReceiveLine:
    partner: str
    currency: str
    count: int
    paid_out: int
    returned: int = 0  # payouts given back this day
    taken_back: int = 0  # what those returns took out of the settlement account


@dataclass(frozen=True, slots=True)
class Position:
    partner: str
    currency: str
    owed_for_payouts: int
    float_debited: int
    deposits: int
    instructions: tuple[str, ...]

    @property
    def net(self) -> int:
        """Positive: the hub owes the partner; negative: its prefunded float was used."""
        return self.owed_for_payouts - self.float_debited


@dataclass
class Statement:
    day: date
    period: Period
    partner: str | None
    sends: list[SendLine] = field(default_factory=list)
    receives: list[ReceiveLine] = field(default_factory=list)
    deposits: dict[tuple[str, str], int] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Statement:
        """Back from the wire form (what the server answers the operator commands)."""
        def m(text: str, cur: str) -> int:
            return parse_minor(text.lstrip("-"), cur) * (-1 if text.startswith("-") else 1)

        st = cls(date.fromisoformat(body["date"]),
                 Period(parse_time(body["from"]), parse_time(body["to"])), body["partner"])
        st.sends = [SendLine(x["partner"], x["currency"], x["count"], m(x["gross_sent"],
                    x["currency"]), m(x["fees"], x["currency"]), m(x["fx_margin"],
                    x["currency"]), x.get("returned", 0),
                    m(x.get("float_credited", "0"), x["currency"])) for x in body["sent"]]
        st.receives = [ReceiveLine(x["partner"], x["currency"], x["count"],
                       m(x["paid_out"], x["currency"]), x.get("returned", 0),
                       m(x.get("taken_back", "0"), x["currency"])) for x in body["received"]]
        st.positions = [Position(x["partner"], x["currency"],
                        m(x["owed_for_payouts"], x["currency"]),
                        m(x["float_debited"], x["currency"]), m(x["deposits"], x["currency"]),
                        tuple(x["instructions"])) for x in body["positions"]]
        st.deposits = {(p.partner, p.currency): p.deposits for p in st.positions}
        return st

    def as_dict(self, *, for_partner: bool = False) -> dict[str, object]:
        """The wire form: amounts as decimal strings in their currency. A partner's copy
        leaves out the hub's FX margin, which is the hub's business, not the partner's."""
        def m(minor: int, cur: str) -> str:
            return format_minor(minor, cur)

        body: dict[str, object] = {
            "date": self.day.isoformat(),
            "from": _iso(self.period.start),
            "to": _iso(self.period.end),
            "partner": self.partner,
            "sent": [
                {"partner": s.partner, "currency": s.currency, "count": s.count,
                 "gross_sent": m(s.gross_sent, s.currency), "fees": m(s.fees, s.currency),
                 "fx_margin": m(s.fx_margin, s.currency),
                 "float_debited": m(s.debited, s.currency),
                 "returned": s.returned, "float_credited": m(s.float_credited, s.currency)}
                for s in self.sends
            ],
            "received": [
                {"partner": r.partner, "currency": r.currency, "count": r.count,
                 "paid_out": m(r.paid_out, r.currency), "returned": r.returned,
                 "taken_back": m(r.taken_back, r.currency)}
                for r in self.receives
            ],
            "positions": [
                {"partner": p.partner, "currency": p.currency,
                 "owed_for_payouts": m(p.owed_for_payouts, p.currency),
                 "float_debited": m(p.float_debited, p.currency),
                 "deposits": m(p.deposits, p.currency),
                 "net": m(p.net, p.currency), "instructions": list(p.instructions)}
                for p in self.positions
            ],
        }
        if for_partner:
            for line in body["sent"]:  # type: ignore[attr-defined]  # built just above as a list of dicts
                del line["fx_margin"]
        return body


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_partner(site: Site, partner: str | None) -> None:
    if partner is not None and site.partner(partner) is None:
        raise InvalidInput(f"unknown partner {partner[:64]!r}", code="unknown_partner")


def settle(
    con: duckdb.DuckDBPyConnection, site: Site, day: date, period: Period,
    partner: str | None = None,
) -> Statement:
    """The statement of one business day, for every partner or for one."""
    check_partner(site, partner)
    args = {"start": period.start, "end": period.end, "partner": partner}
    st = Statement(day, period, partner)
    for receive_side, pid, cur, count, sent, fees, margin, received in con.execute(
        _SIDES, args
    ).fetchall():
        if partner is not None and pid != partner:
            continue  # the counterpart's line of this partner's transfers
        if receive_side:
            st.receives.append(ReceiveLine(pid, cur, count, int(received)))
        else:
            st.sends.append(SendLine(pid, cur, count, int(sent), int(fees), int(margin)))
    _add_returns(con, st, args, partner)
    st.sends.sort(key=lambda s: (s.partner, s.currency))
    st.receives.sort(key=lambda r: (r.partner, r.currency))
    for pid, cur, _, amount in con.execute(_DEPOSITS, args).fetchall():
        st.deposits[(pid, cur)] = int(amount)
    st.positions = _positions(site, st)
    return st


def _add_returns(con: duckdb.DuckDBPyConnection, st: Statement, args: dict[str, Any],
                 partner: str | None) -> None:
    """Put the day's returns on the lines (a line of its own where the side moved only by
    returns that day), by `core.returns.return_terms` (linear: applied to the sums)."""
    sends = {(s.partner, s.currency): s for s in st.sends}
    receives = {(r.partner, r.currency): r for r in st.receives}
    for receive_side, pid, cur, count, sent, fees, margin, received in con.execute(
        _RETURNS, args
    ).fetchall():
        if partner is not None and pid != partner:
            continue
        terms = return_terms(int(sent or 0), int(fees or 0), int(margin or 0),
                             int(received or 0))
        if receive_side:
            r = receives.get((pid, cur)) or ReceiveLine(pid, cur, 0, 0)
            receives[(pid, cur)] = dataclasses.replace(
                r, returned=count, taken_back=terms.settlement_debit)
        else:
            s = sends.get((pid, cur)) or SendLine(pid, cur, 0, 0, 0, 0)
            sends[(pid, cur)] = dataclasses.replace(
                s, returned=count, float_credited=terms.float_credit)
    st.sends, st.receives = list(sends.values()), list(receives.values())


def _positions(site: Site, st: Statement) -> list[Position]:
    # Net of the day's returns: what the hub owes for payouts, what the floats paid.
    owed = {(r.partner, r.currency): r.paid_out - r.taken_back for r in st.receives}
    debited = {(s.partner, s.currency): s.debited - s.float_credited for s in st.sends}
    out = []
    for key in sorted(set(owed) | set(debited)):
        pid, cur = key
        p = site.partner(pid)
        name = p.name if p else pid
        lines = []
        if owed.get(key, 0) > 0:
            lines.append(f"hub pays {name} {grouped(owed[key], cur)} {cur}")
        elif owed.get(key, 0) < 0:
            lines.append(f"{name} pays the hub {grouped(-owed[key], cur)} {cur} "
                         "(payouts given back)")
        if debited.get(key, 0) > 0:
            amount = grouped(debited[key], cur)
            lines.append(f"{_possessive(name)} float was debited {amount} {cur} "
                         "(prefunded; no transfer due)")
        elif debited.get(key, 0) < 0:
            amount = grouped(-debited[key], cur)
            lines.append(f"{_possessive(name)} float was credited {amount} {cur} "
                         "(returns; no transfer due)")
        out.append(Position(pid, cur, owed.get(key, 0), debited.get(key, 0),
                            st.deposits.get(key, 0), tuple(lines)))
    return out


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"
