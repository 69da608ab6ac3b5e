"""Generated event histories that follow TXN's feed contract (docs/internal-api.md) exactly.

Tests and `corridor bench rpt` use them: pages of `EventPage` JSON as TXN would serve
them, and beside them the ledger postings TXN would have made (from the core's own
`transfer_legs` and `funding_legs`), so that reports and settlement can be checked against
the ledger to the minor unit. Amounts come from the core's pricing on the site's real
corridors, fees and rates; lifecycles follow the core's state machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import msgspec

from corridor.api.schemas import Event, EventPage
from corridor.core.errors import InvalidInput
from corridor.core.ledger import Leg, funding_legs, transfer_legs
from corridor.core.money import Money, format_minor
from corridor.core.pricing import Quote, price_quote
from corridor.core.states import TRANSITIONS, Status
from corridor.core.times import rfc3339
from corridor.site.model import Partner, Site

S = Status
# Lifecycles and how often each happens (per mille). Each step must be a transition the
# core allows; `_check_paths` proves it at import.
PATHS: tuple[tuple[int, tuple[Status, ...]], ...] = (
    (800, (S.RECEIVED, S.ACCEPTED, S.SUBMITTED, S.COMPLETED)),
    (50, (S.RECEIVED, S.ACCEPTED, S.SUBMITTED, S.FAILED)),
    (30, (S.RECEIVED, S.ACCEPTED, S.SUBMITTED, S.UNKNOWN, S.COMPLETED)),
    (40, (S.RECEIVED, S.REJECTED)),
    (20, (S.RECEIVED, S.ACCEPTED, S.CANCELLED)),
    (40, (S.RECEIVED, S.COMPLIANCE_HOLD, S.ACCEPTED, S.SUBMITTED, S.COMPLETED)),
    (20, (S.RECEIVED, S.COMPLIANCE_HOLD, S.REJECTED)),
)
REJECT_CODES = (
    ("insufficient_funds", "the send partner's float does not cover the transfer"),
    ("daily_limit_exceeded", "the sender's daily limit would be exceeded"),
)
FAIL_CODES = (
    ("account_closed", "the beneficiary's wallet is closed"),
    ("payout_refused", "the receive partner refused the payout"),
)


def _check_paths() -> None:
    for _, path in PATHS:
        for old, new in itertools.pairwise(path):
            assert new in TRANSITIONS[old], (old, new)


_check_paths()


@dataclass
class Posting:
    """One posted ledger leg and when TXN would have posted it."""

    at: datetime
    leg: Leg


@dataclass
class History:
    pages: list[bytes]
    events: int
    transfers: int
    start: datetime
    end: datetime
    postings: list[Posting] = field(default_factory=list)  # empty unless asked for

    def ledger(self, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
        """Posted movement per (account, currency) in [start, end): what TXN's
        `GET /internal/v1/ledger/activity` answers for that period."""
        out: dict[tuple[str, str], int] = {}
        for p in self.postings:
            if start <= p.at < end:
                key = (p.leg.account, p.leg.currency)
                out[key] = out.get(key, 0) + p.leg.amount
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class _Route:
    sender: Partner
    quotes: tuple[Quote, ...]
    large: tuple[Quote, ...]  # just under the sender's per-transfer limit


def _routes(site: Site, rng: random.Random, now: datetime) -> list[_Route]:
    routes = []
    for sender in sorted(site.partners.values(), key=lambda p: p.id):
        if not sender.sends or sender.disabled:
            continue
        for receiver in sorted(site.partners.values(), key=lambda p: p.id):
            if not receiver.receives or receiver.disabled or receiver.id == sender.id:
                continue
            corridor = f"{sender.country}-{receiver.country}"
            if corridor not in site.hub.tariff.fees:
                continue
            cur = site.hub.tariff.fees[corridor].currency
            limit = sender.limits.per_transfer or 10_000_000
            def quote(minor: int, sender=sender, receiver=receiver, cur=cur) -> Quote:
                return price_quote(
                    site.hub.tariff, sender, receiver, send_currency=cur,
                    receive_currency=receiver.currency,
                    destination_country=receiver.country,
                    payout_method=receiver.payout_methods[0],
                    send_amount=format_minor(minor, cur), receive_amount=None,
                    quote_id="q", now=now,
                )
            # Typical remittances: log-uniform between 1% and 20% of the limit.
            amounts = [int(limit * 10 ** rng.uniform(-2, -0.7)) for _ in range(96)]
            large = [int(limit * rng.uniform(0.9, 0.999)) for _ in range(16)]
            quotes = _priced(quote, amounts)
            larges = _priced(quote, large)
            if quotes:
                routes.append(_Route(sender, quotes, larges))
    if not routes:
        raise ValueError("the site has no open corridor to generate transfers on")
    return routes


def _priced(quote: Callable[[int], Quote], amounts: list[int]) -> tuple[Quote, ...]:
    """The amounts the core prices; those a receive partner's limit refuses are dropped."""
    out = []
    for minor in sorted(amounts):
        with contextlib.suppress(InvalidInput):
            out.append(quote(minor))
    return tuple(out)


def _sender_key(partner: str, n: int) -> str:
    return hashlib.sha256(f"{partner}|sender-{n}".encode()).hexdigest()


def _within_business_day(at: datetime, length: timedelta, cutoff: time) -> datetime:
    """`at`, or the cut-off it would cross within `length`: the metrics count a sender's
    transfers per business day, and a split sum is meant to fall in one."""
    today = at.replace(hour=cutoff.hour, minute=cutoff.minute, second=0, microsecond=0)
    for crossing in (today, today + timedelta(days=1)):
        if at < crossing <= at + length:
            return crossing
    return at


def generate(
    site: Site,
    *,
    transfers: int,
    start: datetime,
    days: float = 1.0,
    page_size: int = 5000,
    seed: int = 7,
    ledger: bool = True,
    structuring: int = 2,
) -> History:
    """A history of `transfers` transfers created between `start` and `start + days`, with
    the events TXN would emit, cut at the end of that window (so the last few are still in
    flight). `structuring` senders each send four transfers just under their limit in one
    day; they are what the compliance metrics should flag."""
    rng = random.Random(seed)
    routes = _routes(site, rng, start)
    end = start + timedelta(days=days)
    span_ms = int(days * 86_400_000)
    weights = [w for w, _ in PATHS]
    raw: list[tuple[datetime, str, str | None, dict[str, object]]] = []
    postings: list[Posting] = []
    senders = max(20, transfers // 5)
    screening_entries = [e for e in site.sanctions] or None

    # Prefunding: every send partner's float, at the start and then daily.
    send_currencies = sorted({(r.sender.id, r.quotes[0].send.currency) for r in routes})
    for day in range(int(days) + 1):
        at = start + timedelta(days=day, seconds=1)
        if at >= end:
            break
        for pid, cur in send_currencies:
            amount = 10**12 if day == 0 else 10**10
            raw.append((at, "ledger.funded", None, {
                "partner": pid, "currency": cur, "amount": amount,
                "reference": f"dep-{pid}-{day}",
            }))
            if ledger:
                postings.extend(Posting(at, leg) for leg in funding_legs(pid, Money(amount, cur)))

    plan: list[tuple[_Route, Quote, datetime, str, tuple[Status, ...]]] = []
    for i in range(transfers):
        route = routes[i % len(routes)]
        created = start + timedelta(milliseconds=rng.randrange(span_ms))
        path = rng.choices(PATHS, weights)[0][1]
        sk = _sender_key(route.sender.id, rng.randrange(senders))
        large = route.large and rng.random() < 0.005  # now and then a large one
        plan.append((route, rng.choice(route.large if large else route.quotes), created, sk, path))
    splitting = [r for r in routes if r.large]
    for k in range(structuring if splitting else 0):
        # a sender splitting a large sum into transfers just under the limit, in one day
        route = splitting[k % len(splitting)]
        sk = _sender_key(route.sender.id, senders + k)
        base = start + timedelta(milliseconds=rng.randrange(max(1, span_ms - 3_600_000)))
        base = _within_business_day(base, timedelta(minutes=21), site.hub.settlement_cutoff)
        for j in range(4):
            plan.append((route, route.large[(k * 4 + j) % len(route.large)],
                         base + timedelta(minutes=7 * j), sk, PATHS[0][1]))

    for n, (_route, q, created, sk, path) in enumerate(plan):
        tid = f"tr-{seed}-{n:09d}"
        base: dict[str, object] = {
            "send_partner": q.partner_id, "receive_partner": q.receive_partner_id,
            "corridor": q.corridor, "reference": f"{q.partner_id}-{n}",
            "send_amount": q.send.minor, "send_currency": q.send.currency,
            "receive_amount": q.receive.minor, "receive_currency": q.receive.currency,
            "fee": q.fee.minor, "fx_margin": q.fx_margin.minor, "rate": str(q.rate),
            "created_at": rfc3339(created), "sender_key": sk,
        }
        at, previous = created, None
        hit = None
        if S.COMPLIANCE_HOLD in path and screening_entries:
            e = rng.choice(screening_entries)
            hit = {"party": "beneficiary", "entry": e.id, "name": e.name,
                   "score": rng.randrange(site.hub.sanctions_threshold, 101)}
        for status in path:
            at = at + _delay(rng, previous, status)
            code = reason = None
            if status == S.REJECTED:
                code, reason = (("compliance_rejected", "rejected by a compliance analyst")
                                if previous == S.COMPLIANCE_HOLD else rng.choice(REJECT_CODES))
            elif status == S.FAILED:
                code, reason = rng.choice(FAIL_CODES)
            elif status == S.CANCELLED:
                code, reason = "cancelled", "cancelled by the send partner"
            elif status == S.COMPLIANCE_HOLD:
                code, reason = "screening_hit", "possible sanctions match"
            if previous == S.COMPLIANCE_HOLD:
                raw.append((at, "compliance.decision", tid, {
                    "transfer_id": tid,
                    "decision": "release" if status == S.ACCEPTED else "reject",
                    "analyst": "analyst-1", "note": "reviewed",
                }))
            raw.append((at, "transfer.status", tid, {
                **base, "status": str(status), "previous": previous and str(previous),
                "code": code, "reason": reason,
                "screening": hit if status in (S.COMPLIANCE_HOLD, S.RECEIVED) else None,
            }))
            if status == S.COMPLETED and ledger and at < end:
                postings.extend(Posting(at, leg) for leg in transfer_legs(q))
            previous = status

    raw = [r for r in raw if r[0] < end]
    raw.sort(key=lambda r: r[0])
    pages, events = [], []
    for seq, (at, kind, tid, data) in enumerate(raw, start=1):
        events.append(Event(seq=seq, id=f"ev-{seed}-{seq:010d}", type=kind, transfer_id=tid,
                                at=rfc3339(at), data=data))
        if len(events) == page_size:
            pages.append(msgspec.json.encode(EventPage(events=events, next=seq)))
            events = []
    if events:
        pages.append(msgspec.json.encode(EventPage(events=events, next=len(raw))))
    return History(pages, len(raw), len(plan), start, end, postings)


def _delay(rng: random.Random, previous: Status | None, status: Status) -> timedelta:
    """How long TXN and the partners take between two states."""
    if previous is None:
        return timedelta(0)
    if previous == S.COMPLIANCE_HOLD:
        return timedelta(seconds=rng.uniform(300, 3600))  # an analyst decides
    if status in (S.ACCEPTED, S.REJECTED, S.SUBMITTED, S.CANCELLED):
        return timedelta(milliseconds=rng.uniform(20, 300))
    if previous == S.UNKNOWN:
        return timedelta(seconds=rng.uniform(30, 300))
    if status == S.UNKNOWN:
        return timedelta(seconds=30)
    return timedelta(seconds=rng.lognormvariate(1.0, 0.6))  # payout confirmed
