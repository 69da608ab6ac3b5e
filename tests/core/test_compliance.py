import pytest

from corridor.core.compliance import Screener, check_kyc, exceeds_daily, normalise, sender_key
from corridor.core.errors import InvalidInput
from corridor.site import Site, load_site
from tests.support import EXAMPLE_SITE

SENDER = {"name": "Priya Sharma", "account": "PF-1", "address": "12 MG Road, Pune",
          "id_type": "passport", "id_number": "P123"}
BENEFICIARY = {"name": "John Kamau", "account": "254700000001", "phone": "+254700000001"}


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(EXAMPLE_SITE)


def test_complete_kyc_passes(site: Site) -> None:
    check_kyc(site.hub.kyc, "IN-KE", SENDER, BENEFICIARY)


def test_missing_kyc_names_every_field(site: Site) -> None:
    with pytest.raises(InvalidInput) as err:
        check_kyc(site.hub.kyc, "IN-KE", {"name": "Priya"}, {"name": "John", "account": "1"})
    assert err.value.code == "missing_kyc"
    fields = [e["field"] for e in err.value.extra["errors"]]
    assert "sender.account" in fields
    assert any(f.startswith("sender.address") for f in fields)
    assert "sender.id_number" in fields  # the IN-KE corridor rule
    assert "beneficiary.phone" in fields


def test_date_and_place_of_birth_satisfy_the_baseline(site: Site) -> None:
    sender = {"name": "A B", "account": "1", "date_of_birth": "1990-01-01",
              "place_of_birth": "Pune"}
    check_kyc(site.hub.kyc, "IN-PH", sender, BENEFICIARY)


def test_screening_finds_names_despite_order_and_spelling(site: Site) -> None:
    screener = Screener(site.sanctions, site.hub.sanctions_threshold)
    hit = screener.screen_transfer("Malenko, Viktor", "John Kamau")
    assert hit is not None and hit.entry_id == "DEMO-001" and hit.party == "sender"
    hit = screener.screen_transfer("Priya Sharma", "Hasán Al-Faridi")
    assert hit is not None and hit.party == "beneficiary" and hit.entry_id == "DEMO-002"
    assert hit.score >= site.hub.sanctions_threshold
    assert hit.source.startswith("sanctions/demo-list.csv:")
    assert screener.screen_transfer("Priya Sharma", "John Kamau") is None


def test_normalise() -> None:
    assert normalise("  Hasán  Al-Faridi ") == "hasan al faridi"


def test_sender_key_is_stable_and_pseudonymous() -> None:
    a = sender_key("payfast", SENDER)
    assert a == sender_key("payfast", {**SENDER, "name": "priya  SHARMA"})
    assert a != sender_key("desertx", SENDER)
    assert "Priya" not in a and len(a) == 64


def test_daily_limit(site: Site) -> None:
    payfast = site.partners["payfast"]
    assert not exceeds_daily(payfast, 100_000_00, 900_000_00)
    assert exceeds_daily(payfast, 100_000_01, 900_000_00)
