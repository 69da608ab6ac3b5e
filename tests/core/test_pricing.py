from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from corridor.core.errors import InvalidInput
from corridor.core.ledger import imbalance, transfer_legs
from corridor.core.pricing import Quote, price_quote
from corridor.site import Site, load_site
from tests.support import EXAMPLE_SITE

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(EXAMPLE_SITE)


def quote(site: Site, partner: str = "payfast", **terms: str | None) -> Quote:
    args: dict = {"send_currency": "INR", "receive_currency": "KES",
                  "destination_country": "KE", "payout_method": "wallet",
                  "send_amount": None, "receive_amount": None}
    args.update(terms)
    receiver = site.receive_partner_for(args["destination_country"], args["receive_currency"])
    return price_quote(site.hub.tariff, site.partners[partner], receiver, quote_id="q",
                       now=NOW, **args)


def test_send_amount_quote_prices_rate_fee_and_margin(site: Site) -> None:
    q = quote(site, send_amount="10000.00")
    # mid 1.5412 less 150 bps
    assert q.rate == Decimal("1.51808200")
    assert str(q.receive) == "15180.82"  # rounded down
    assert str(q.fee) == "100.00"  # 50.00 + 0.5%
    assert str(q.total) == "10100.00"
    assert q.receive_partner_id == "mobicash"
    assert q.corridor == "IN-KE"
    assert q.expires_at == NOW + timedelta(seconds=600)


def test_receive_amount_quote_pays_exactly_what_was_asked(site: Site) -> None:
    q = quote(site, receive_amount="15000.00")
    assert str(q.receive) == "15000.00"
    assert q.send.minor * q.rate * Decimal("1") / 100 >= Decimal("150.00")


def test_no_minor_unit_is_lost_over_many_amounts(site: Site) -> None:
    for minor in range(100, 5_000_000, 7919):
        amount = f"{minor // 100}.{minor % 100:02d}"
        q = quote(site, send_amount=amount)
        assert q.fx_margin.minor >= 0
        assert imbalance(transfer_legs(q)) == {}
        # the customer never gets more than the mid-rate value
        assert q.receive.minor <= q.send.minor * q.mid_rate


def test_routing_picks_the_receive_partner_by_country(site: Site) -> None:
    q = quote(site, receive_currency="PHP", destination_country="PH", send_amount="500.00")
    assert q.receive_partner_id == "islapay"
    assert q.corridor == "IN-PH"


@pytest.mark.parametrize(
    ("terms", "code"),
    [({"send_amount": "10.005"}, "invalid_amount"),
     ({"send_amount": "1.00", "receive_amount": "1.00"}, "amount_required"),
     ({}, "amount_required"),
     ({"send_amount": "1.00", "send_currency": "XXX"}, "unknown_currency"),
     ({"send_amount": "1.00", "send_currency": "AED"}, "currency_not_supported"),
     ({"send_amount": "1.00", "destination_country": "BR"}, "no_route"),
     ({"send_amount": "1.00", "payout_method": "cash"}, "no_route"),
     ({"send_amount": "600000.00"}, "limit_exceeded"),
     ({"send_amount": "0.00"}, "amount_too_small")],
)
def test_bad_terms_are_refused_with_a_stable_code(site: Site, terms: dict, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        quote(site, **terms)
    assert err.value.code == code


def test_expired_and_foreign_quotes_are_not_usable(site: Site) -> None:
    q = quote(site, send_amount="100.00")
    q.check_usable("payfast", NOW + timedelta(seconds=599))
    with pytest.raises(InvalidInput) as err:
        q.check_usable("payfast", NOW + timedelta(seconds=600))
    assert err.value.code == "quote_expired"
    with pytest.raises(InvalidInput) as err:
        q.check_usable("desertx", NOW)
    assert err.value.code == "quote_not_found"
