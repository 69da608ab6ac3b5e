"""GET /v1/corridors through EIG, judged by requests generated from it: every amount the
catalogue states as a bound is accepted by POST /v1/quotes and one minor unit beyond it is
refused; a transfer carrying exactly the KYC fields it lists is accepted and one missing
any of them is refused. Also live rates end to end: a corridor whose rate is older than
`fx.max_age_seconds` is listed unavailable and its quotes are refused 503 `rates_stale`.

One world per store (SQLite, PostgreSQL) with `fx.max_age_seconds: 3600`; the treasury
pushes INR/KES when it starts and INR/PHP only in `fresh_rates` (so the first test sees
IN-PH stale)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner

from corridor.cli import cli
from corridor.core.money import format_minor, parse_minor
from corridor.sim.driver import SendDriver
from corridor.sim.world import World
from corridor.site.edit import set_value
from tests.e2e.journeys import funded_world

_refs = itertools.count(1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    with funded_world(tmp_path_factory.mktemp("catalogue"), request.param, "cat",
                      prepare=lambda site_dir: set_value(site_dir, "hub.yaml",
                                                         ["fx", "max_age_seconds"], 3600)) as w:
        push(w, "INR/KES", "1.5412")
        yield w


def push(world: World, pair: str, rate: str) -> None:
    result = CliRunner().invoke(cli, ["fx", "set", pair, rate, "--by", "treasury-feed",
                                      "--site", str(world.site_dir), "--data",
                                      str(world.data_dir), "--store", world.dsn()])
    assert result.exit_code == 0, result.output


def call(world: World, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        async with SendDriver(world.site, "payfast", timeout=15) as driver:
            return await driver.raw(method, path, body)
    return asyncio.run(go())


def calls(world: World, requests: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    async def go() -> list[tuple[int, Any]]:
        async with SendDriver(world.site, "payfast", timeout=15) as driver:
            return [await driver.raw(m, p, b) for m, p, b in requests]
    return asyncio.run(go())


def offers(world: World) -> dict[tuple[str, str], dict[str, Any]]:
    status, body = call(world, "GET", "/v1/corridors")
    assert status == 200, body
    assert body["partner"] == "payfast"
    return {(o["corridor"], o["payout_method"]): o for o in body["corridors"]}


def quote_body(offer: dict[str, Any], **amount: str) -> dict[str, str]:
    return {"send_currency": offer["send_currency"], "receive_currency":
            offer["receive_currency"], "destination_country": offer["destination_country"],
            "payout_method": offer["payout_method"], **amount}


def step(amount: str, currency: str, by: int) -> str:
    return format_minor(parse_minor(amount, currency) + by, currency)


def test_a_corridor_whose_rate_is_stale_is_unavailable_and_refuses_quotes_503(
        world: World) -> None:
    listed = offers(world)
    ph = listed[("IN-PH", "wallet")]
    assert ph["available"] is False and ph["unavailable_code"] == "rates_stale"
    assert ph["indicative_rate"]["stale"] is True and ph["indicative_rate"]["source"] == "hub.yaml"
    assert "send_amount" not in ph or ph["send_amount"] is None
    status, body = call(world, "POST", "/v1/quotes", quote_body(ph, send_amount="1000.00"))
    assert status == 503 and body["code"] == "rates_stale", body
    assert "INR/PHP" in body["detail"]
    ke = listed[("IN-KE", "wallet")]
    assert ke["available"] is True and ke["indicative_rate"]["source"] == "treasury"
    assert ke["indicative_rate"]["stale"] is False


@pytest.fixture
def fresh_rates(world: World) -> None:
    push(world, "INR/PHP", "0.6745")


def test_the_catalogue_is_derived_from_the_site(world: World, fresh_rates: None) -> None:
    listed = offers(world)
    # PayFast (IN, INR): Kenya through MobiCash (wallet), the Philippines through IslaPay
    # (wallet and bank); nothing of DesertX's AED corridors.
    assert sorted(listed) == [("IN-KE", "wallet"), ("IN-PH", "bank"), ("IN-PH", "wallet")]
    ke = listed[("IN-KE", "wallet")]
    assert (ke["send_currency"], ke["receive_currency"], ke["destination_country"]) == (
        "INR", "KES", "KE")
    assert ke["fee"] == {"currency": "INR", "fixed": "50.00", "percent_bps": 50,
                         "min": "50.00", "max": "2500.00"}
    assert ke["quote_ttl_seconds"] == 600
    assert ke["per_sender_daily"] == "1000000.00"
    # hub.yaml's IN-KE rule adds the sender's id_number and the beneficiary's phone.
    assert ke["kyc"]["sender"]["required"] == ["name", "account", "id_number"]
    assert ke["kyc"]["beneficiary"]["required"] == ["name", "account", "phone"]
    assert listed[("IN-PH", "bank")]["kyc"]["sender"]["required"] == ["name", "account"]
    assert ["address"] in ke["kyc"]["sender"]["one_of"]
    assert ke["send_amount"]["max"] == "500000.00"  # PayFast's per-transfer limit
    assert ke["indicative_rate"]["mid_rate"] == "1.5412"


def test_every_bound_is_accepted_and_one_unit_beyond_is_refused(
        world: World, fresh_rates: None) -> None:
    for offer in offers(world).values():
        assert offer["available"], offer
        send_cur, recv_cur = offer["send_currency"], offer["receive_currency"]
        s, r = offer["send_amount"], offer["receive_amount"]
        accepted = [("send_amount", s["min"], send_cur), ("send_amount", s["max"], send_cur),
                    ("receive_amount", r["min"], recv_cur), ("receive_amount", r["max"], recv_cur)]
        beyond = [("send_amount", step(s["max"], send_cur, 1), send_cur),
                  ("receive_amount", step(r["max"], recv_cur, 1), recv_cur)]
        if parse_minor(s["min"], send_cur) > 1:
            beyond.append(("send_amount", step(s["min"], send_cur, -1), send_cur))
        answers = calls(world, [("POST", "/v1/quotes", quote_body(offer, **{side: amount}))
                                for side, amount, _ in accepted + beyond])
        for (side, amount, _), (status, body) in zip(accepted, answers, strict=False):
            assert status == 201, (offer["corridor"], side, amount, body)
            assert body[side] == amount
            assert body["rate"] == offer["indicative_rate"]["rate"]
        for (side, amount, _), (status, body) in zip(beyond, answers[len(accepted):],
                                                     strict=True):
            assert status == 422, (offer["corridor"], side, amount, body)
            assert body["code"] in ("limit_exceeded", "amount_too_small"), body
        # Below the smallest amount there is only zero, which the API refuses as such.
        status, body = call(world, "POST", "/v1/quotes", quote_body(
            offer, receive_amount=step(r["min"], recv_cur, -1)))
        assert status == 422 and body["code"] == "invalid_amount", body


def transfer(offer: dict[str, Any], quote_id: str, drop: str | None = None,
             group: list[str] | None = None) -> dict[str, Any]:
    """A transfer body with exactly the fields the catalogue lists (the sender located by
    `group`, the first of `one_of` by default), less `drop` ("sender.id_number")."""
    n = next(_refs)
    values = {"name": f"Sender Number{n}", "account": f"AC{n:06d}", "address": "1 MG Road",
              "id_type": "passport", "id_number": f"P{n:07d}", "date_of_birth": "1980-01-01",
              "place_of_birth": "Pune", "phone": "+254700000002"}
    kyc = offer["kyc"]
    sender_fields = [*kyc["sender"]["required"],
                     *(group if group is not None else kyc["sender"]["one_of"][0])]
    beneficiary = {"name": "Mary Kamau", "account": "254700000002", "phone": "+254700000002"}
    body: dict[str, Any] = {
        "sender": {f: values[f] for f in dict.fromkeys(sender_fields)},
        "beneficiary": {f: beneficiary[f] for f in kyc["beneficiary"]["required"]},
        "quote_id": quote_id, "reference": f"CAT-{n}", "purpose": "family support",
        "source_of_funds": "salary",
    }
    assert set(body) == {"sender", "beneficiary", *offer["transfer_fields"]}
    if drop:
        part, _, field = drop.partition(".")
        if field:
            del body[part][field]
        else:
            del body[part]
    return body


def test_a_transfer_with_the_listed_kyc_is_accepted_and_one_missing_any_is_refused(
        world: World, fresh_rates: None) -> None:
    offer = offers(world)[("IN-KE", "wallet")]
    kyc = offer["kyc"]
    cases: list[tuple[str | None, list[str] | None, int]] = [(None, None, 201)]
    cases += [(None, g, 201) for g in kyc["sender"]["one_of"]]
    cases += [(None, [], 422)]  # required fields only, no locating group
    cases += [(f"sender.{f}", None, 422) for f in kyc["sender"]["required"]]
    cases += [(f"beneficiary.{f}", None, 422) for f in kyc["beneficiary"]["required"]]
    cases += [(f, None, 422) for f in offer["transfer_fields"] if f != "quote_id"]
    quotes = calls(world, [("POST", "/v1/quotes", quote_body(offer, send_amount="1000.00"))
                           for _ in cases])
    assert all(status == 201 for status, _ in quotes), quotes
    answers = calls(world, [("POST", "/v1/transfers", transfer(offer, q["id"], drop, group))
                            for (drop, group, _), (_, q) in zip(cases, quotes, strict=True)])
    for (drop, group, wanted), (status, body) in zip(cases, answers, strict=True):
        assert status == wanted, (drop, group, body)
        if wanted == 201:
            assert body["status"] == "ACCEPTED", body
        else:
            assert body["code"] in ("missing_kyc", "invalid_request"), body
    # The largest amount the catalogue lists goes through as a transfer too.
    status, q = call(world, "POST", "/v1/quotes",
                     quote_body(offer, send_amount=offer["send_amount"]["max"]))
    assert status == 201, q
    status, body = call(world, "POST", "/v1/transfers", transfer(offer, q["id"]))
    assert status == 201 and body["status"] == "ACCEPTED", body
    assert Decimal(body["send_amount"]) == Decimal(offer["send_amount"]["max"])


def test_the_openapi_document_shows_the_catalogue(world: World) -> None:
    status, doc = call(world, "GET", "/openapi.json")
    assert status == 200
    op = doc["paths"]["/v1/corridors"]["get"]
    assert op["operationId"] == "list_corridors"
    assert "Catalogue" in doc["components"]["schemas"]
