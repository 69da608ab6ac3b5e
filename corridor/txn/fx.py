"""The treasury's rates in TXN's store: push a rate (`corridor fx set`, `POST
/internal/v1/fx/rates`), confirm one that moved beyond the band (four eyes), and the rate
book quotes are priced from. The rules are `corridor.core.fx`'s; each change runs in one
transaction and a refused one writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from corridor.core import fx
from corridor.core.errors import Conflict, InvalidInput, NotFound
from corridor.core.pricing import Tariff
from corridor.core.times import parse_time, rfc3339
from corridor.store import Connection
from corridor.store import fx as rates_store
from corridor.store.fx import LIVE, PENDING, RateRow

# A source's clock may run a little ahead of ours; further ahead is a mistake.
_SKEW = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Pushed:
    """What a push did: the rate is live, or it waits for a second operator."""

    row: RateRow
    previous: fx.Rate | None

    @property
    def pending(self) -> bool:
        return self.row.state == PENDING


class MoveBeyondBand(Conflict):
    """A push recorded as a proposal, not used: a second operator must confirm it."""

    code = "rate_move_beyond_band"


def book(conn: Connection, tariff: Tariff) -> fx.RateBook:
    """The rates quotes are priced from now."""
    return fx.RateBook(tariff.fx_rates, rates_store.live(conn), tariff.fx_max_age_s)


def _effective(conn: Connection, tariff: Tariff, pair: fx.Pair) -> fx.Rate | None:
    row = rates_store.current(conn, pair)
    if row is not None:
        return row.as_rate()
    if pair in tariff.fx_rates:
        return fx.Rate(*pair, tariff.fx_rates[pair], fx.SITE_SOURCE, None)
    return None


def _orientation(conn: Connection, tariff: Tariff, pair: fx.Pair) -> None:
    """A pair is pushed the way round the hub already quotes it (hub.yaml or an earlier
    push), so that one pair never has two rates that disagree."""
    inverse = (pair[1], pair[0])
    if pair in tariff.fx_rates or rates_store.current(conn, pair) is not None:
        return
    if inverse in tariff.fx_rates or rates_store.current(conn, inverse) is not None:
        raise InvalidInput(f"the hub keeps this rate as {inverse[0]}/{inverse[1]}: push that",
                           code="pair_inverted")


def push(conn: Connection, tariff: Tariff, pair_text: str, rate_text: object, *, source: str,
         by: str, now: datetime, given_at: str | None = None) -> Pushed:
    """Record a rate: live at once, or (a move beyond the band) a proposal that a second
    operator confirms; bad input is refused and nothing is written."""
    pair = fx.parse_pair(pair_text)
    rate = fx.parse_rate(rate_text)
    fx.parse_source(source)
    if not by.strip():
        raise InvalidInput("name the operator or feed that pushes the rate",
                           code="operator_required")
    at = parse_time(given_at) if given_at else now
    if at > now + _SKEW:
        raise InvalidInput(f"the rate's time {given_at} is in the future", code="rate_in_future")
    with conn.write():
        _orientation(conn, tariff, pair)
        previous = _effective(conn, tariff, pair)
        fx.check_newer(previous, at)
        moved = fx.check_move(previous, rate, tariff.fx_band_bps)
        state = LIVE if moved is None else PENDING
        rate_id = rates_store.record(conn, pair, rate, source, rfc3339(at), rfc3339(now),
                                     by.strip(), state, moved)
        row = rates_store.get(conn, rate_id)
    assert row is not None
    return Pushed(row, previous)


def refusal(pushed: Pushed, band_bps: int) -> MoveBeyondBand:
    """The refusal a proposal is answered with: quotes keep the current rate."""
    row, prev = pushed.row, pushed.previous
    assert prev is not None
    return MoveBeyondBand(
        f"{row.pair} {prev.rate} -> {row.rate} moves {row.move_bps} bps, beyond the band of "
        f"{band_bps} bps: quotes keep {prev.rate}; proposal {row.id} waits for a second "
        f"operator (corridor fx confirm {row.id} --by NAME)",
        proposal_id=row.id, move_bps=row.move_bps)


def confirm(conn: Connection, tariff: Tariff, rate_id: int, by: str, now: datetime) -> RateRow:
    """A second operator makes a proposed rate live."""
    with conn.write():
        row = rates_store.get(conn, rate_id)
        if row is None:
            raise NotFound(f"no rate {rate_id}", code="rate_not_found")
        if row.state != PENDING:
            raise Conflict(f"rate {rate_id} is {row.state}, not waiting for confirmation",
                           code="rate_not_pending")
        fx.check_confirmer(row.recorded_by, by)
        latest = rates_store.current(conn, (row.base, row.quote))
        if latest is not None and latest.id > row.id:
            raise Conflict(f"{row.pair} has had a newer rate ({latest.id}) since proposal "
                           f"{rate_id}: push again", code="rate_superseded")
        rates_store.confirm(conn, rate_id, by.strip(), rfc3339(now))
        done = rates_store.get(conn, rate_id)
    assert done is not None
    return done
