"""`GET /v1/corridors` on TXN's side: the calling send partner's corridors, derived from
the site the way a quote is priced: the fee rules of its country and currency, the receive
partner the site routes each destination and currency to (`Site.receive_partner_for`, as
`Engine.quote` does), that partner's payout methods, both partners' limits, hub.yaml's
KYC rules, and the live rate a quote made now would use."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from corridor.api import catalogue as wire
from corridor.core import compliance
from corridor.core.catalogue import bounds
from corridor.core.errors import CorridorError
from corridor.core.fx import RateBook
from corridor.core.money import MAX_MINOR, format_minor
from corridor.core.pricing import customer_rate, minor_scale
from corridor.core.times import rfc3339
from corridor.site.model import Partner, Site

# What POST /v1/transfers requires besides the parties (corridor.api.schemas).
TRANSFER_FIELDS = ["quote_id", "reference", "purpose", "source_of_funds"]


def catalogue(site: Site, sender: Partner, rates: RateBook, now: datetime) -> wire.Catalogue:
    tariff = site.hub.tariff
    offers = []
    for corridor, fee in sorted(tariff.fees.items()):
        send_country, destination = corridor.split("-")
        if send_country != sender.country or fee.currency not in sender.currencies:
            continue
        currencies = sorted({c for p in site.partners.values()
                             if p.receives and not p.disabled and p.country == destination
                             for c in p.currencies})
        for currency in currencies:
            receiver = site.receive_partner_for(destination, currency)
            if receiver is None:
                continue
            for method in receiver.payout_methods:
                offers.append(_offer(site, sender, receiver, corridor, fee.currency, currency,
                                     method, rates, now))
    return wire.Catalogue(partner=sender.id, as_of=rfc3339(now), corridors=offers)


def _offer(site: Site, sender: Partner, receiver: Partner, corridor: str, send_currency: str,
           receive_currency: str, method: str, rates: RateBook,
           now: datetime) -> wire.CorridorOffer:
    tariff = site.hub.tariff
    fee = tariff.fees[corridor]
    s_req, s_one_of, b_req = compliance.required_fields(site.hub.kyc, corridor)
    daily = sender.limits.per_sender_daily
    offer = wire.CorridorOffer(
        corridor=corridor, destination_country=receiver.country, send_currency=send_currency,
        receive_currency=receive_currency, payout_method=method, available=False,
        per_sender_daily=format_minor(daily, send_currency) if daily is not None else None,
        fee=wire.FeeSchedule(currency=fee.currency, fixed=format_minor(fee.fixed, fee.currency),
                             percent_bps=fee.percent_bps,
                             min=format_minor(fee.min, fee.currency),
                             max=format_minor(fee.max, fee.currency)),
        kyc=wire.KycFields(
            sender=wire.PartyFields(required=list(s_req), one_of=[list(g) for g in s_one_of]),
            beneficiary=wire.PartyFields(required=list(b_req))),
        transfer_fields=TRANSFER_FIELDS, quote_ttl_seconds=tariff.quote_ttl_s,
    )
    found = rates.find(send_currency, receive_currency) if send_currency != receive_currency \
        else None
    try:
        mid, used = rates.mid(send_currency, receive_currency, now)
    except CorridorError as exc:
        offer.unavailable_code = exc.code
        if found is not None:
            old, inverse = found
            old_mid = (1 / old.rate).quantize(Decimal("1E-8"), ROUND_HALF_EVEN) if inverse \
                else old.rate
            offer.indicative_rate = wire.IndicativeRate(
                rate=str(customer_rate(tariff, old_mid, send_currency, receive_currency)),
                mid_rate=str(old_mid), source=old.source,
                at=rfc3339(old.at) if old.at else None, stale=True)
        return offer
    rate = customer_rate(tariff, mid, send_currency, receive_currency)
    offer.indicative_rate = wire.IndicativeRate(
        rate=str(rate), mid_rate=str(mid), source=used.source if used else "identity",
        at=rfc3339(used.at) if used is not None and used.at is not None else None, stale=False)
    send_limit = sender.limits.per_transfer
    receive_limit = receiver.limits.per_transfer
    edges = bounds(rate, minor_scale(send_currency, receive_currency),
                   MAX_MINOR if send_limit is None else min(send_limit, MAX_MINOR),
                   MAX_MINOR if receive_limit is None else min(receive_limit, MAX_MINOR))
    if edges is None:
        offer.unavailable_code = "limit_exceeded"
        return offer
    offer.available = True
    offer.send_amount = wire.AmountRange(min=format_minor(edges.send_min, send_currency),
                                         max=format_minor(edges.send_max, send_currency))
    offer.receive_amount = wire.AmountRange(
        min=format_minor(edges.receive_min, receive_currency),
        max=format_minor(edges.receive_max, receive_currency))
    return offer
