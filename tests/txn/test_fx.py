"""Live FX rates on each store: pushed with `corridor fx set`, used by the next quote (even
one priced while the push was committing), refused when they do not parse, are not
positive or move beyond the band without a second operator; stale rates refuse quotes
503 `rates_stale`; every quote records its rate and `fx report` shows it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from corridor.cli import cli
from corridor.core.errors import CorridorError
from corridor.core.times import rfc3339
from corridor.site import load_site
from corridor.site.edit import set_value
from corridor.store import fx as rates_store
from corridor.txn.engine import Engine
from tests.support import copy_site
from tests.txn.rig import Clock, quote_body, transfer_body


def corridor(engine: Engine, *args: str) -> tuple[int, str]:
    """Run a command on the engine's site and store (arguments after `--` as given, so
    that a negative rate is a rate, not an option)."""
    base = ["--site", str(engine.site.root), "--data", str(engine.data_dir),
            "--store", engine.dsn]
    args_ = list(args)
    at = args_.index("--") if "--" in args_ else len(args_)
    result = CliRunner().invoke(cli, [*args_[:at], *base, *args_[at:]])
    return result.exit_code, result.output


def quote(engine: Engine, key: str, **over: str) -> dict[str, str]:
    reply = asyncio.run(engine.quote("payfast", key, quote_body("10000.00", **over)))
    assert reply.status == 201, reply.body
    return json.loads(reply.body)  # type: ignore[no-any-return]


def refused(engine: Engine, key: str) -> CorridorError:
    with pytest.raises(CorridorError) as info:
        asyncio.run(engine.quote("payfast", key, quote_body("10000.00")))
    return info.value


def live(engine: Engine) -> dict[str, str]:
    conn = engine.connect()
    try:
        return {f"{b}/{q}": str(r.rate) for (b, q), r in rates_store.live(conn).items()}
    finally:
        conn.close()


def test_a_pushed_rate_prices_the_next_quote_and_the_quote_records_it(engine: Engine) -> None:
    before = quote(engine, "q0")
    assert before["rate"] == "1.51808200"  # hub.yaml's 1.5412 less the 150 bps margin
    code, out = corridor(engine, "fx", "set", "INR/KES", "1.5500", "--by", "alice",
                         "--source", "refinitiv")
    assert code == 0, out
    assert "is live" in out
    # The engine priced on its copy (still 1.5412); its group commit saw the newer rate and
    # priced the quote again on it.
    after = quote(engine, "q1")
    assert after["rate"] == str((Decimal("1.5500") * Decimal("0.985")).quantize(Decimal("1E-8")))
    stored = asyncio.run(engine.find_quote(after["id"]))
    assert stored is not None and stored.fx_rate_id is not None
    assert stored.mid_rate == Decimal("1.5500")
    # A transfer on it: the report names the rate and its source.
    asyncio.run(engine.create_transfer("payfast", "t1", transfer_body(after["id"])))
    code, out = corridor(engine, "fx", "report", "--json")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["fx_rate_id"], r["source"], r["mid_rate"]) for r in rows] == [
        (stored.fx_rate_id, "refinitiv", "1.5500")]


@pytest.mark.parametrize(("rate", "code"), [
    ("abc", "invalid_rate"), ("1,55", "invalid_rate"), ("1e3", "invalid_rate"),
    ("NaN", "invalid_rate"), ("-1.55", "rate_not_positive"), ("0", "rate_not_positive"),
    ("0.000", "rate_not_positive"),
])
def test_a_rate_that_does_not_parse_or_is_not_positive_is_refused(
        engine: Engine, rate: str, code: str) -> None:
    status, out = corridor(engine, "fx", "set", "--by", "alice", "--", "INR/KES", rate)
    assert status == 1 and out.startswith(f"error: {code}:"), out
    assert "Traceback" not in out
    assert live(engine) == {}
    assert quote(engine, "q")["rate"] == "1.51808200"


@pytest.mark.parametrize(("args", "code"), [
    (("INR-KES", "1.5"), "invalid_pair"), (("INR/XYZ", "1.5"), "invalid_pair"),
    (("INR/INR", "1"), "invalid_pair"), (("KES/INR", "0.65"), "pair_inverted"),
    (("INR/KES", "1.55", "--at", "2999-01-01T00:00:00Z"), "rate_in_future"),
    (("INR/KES", "1.55", "--source", "bad source"), "invalid_source"),
])
def test_a_bad_pair_time_or_source_is_refused(engine: Engine, args: tuple[str, ...],
                                              code: str) -> None:
    status, out = corridor(engine, "fx", "set", *args, "--by", "alice")
    assert status == 1 and out.startswith(f"error: {code}:"), out
    assert live(engine) == {}


def test_a_move_beyond_the_band_needs_a_second_operator(engine: Engine) -> None:
    assert corridor(engine, "fx", "set", "INR/KES", "1.5500", "--by", "alice")[0] == 0
    # 1.5500 -> 1.7000 is 968 bps, beyond the demo's 500: refused, quotes keep 1.5500.
    status, out = corridor(engine, "fx", "set", "INR/KES", "1.7000", "--by", "alice")
    assert status == 1 and out.startswith("error: rate_move_beyond_band:"), out
    assert "968 bps" in out and "quotes keep 1.5500" in out
    assert live(engine) == {"INR/KES": "1.5500"}
    assert Decimal(quote(engine, "q1")["rate"]) < Decimal("1.53")
    proposal = out.split("proposal ")[1].split()[0]
    # The proposer cannot confirm it; nobody can confirm a live rate or an unknown one.
    status, out = corridor(engine, "fx", "confirm", proposal, "--by", "alice")
    assert status == 1 and out.startswith("error: same_operator:"), out
    assert live(engine) == {"INR/KES": "1.5500"}
    status, out = corridor(engine, "fx", "confirm", "999999", "--by", "bob")
    assert status == 1 and out.startswith("error: rate_not_found:"), out
    # A second operator confirms: live, audited with both names.
    status, out = corridor(engine, "fx", "confirm", proposal, "--by", "bob")
    assert status == 0 and "proposed by alice, confirmed by bob" in out, out
    assert live(engine) == {"INR/KES": "1.7000"}
    assert quote(engine, "q2")["rate"] == str(
        (Decimal("1.7000") * Decimal("0.985")).quantize(Decimal("1E-8")))
    status, out = corridor(engine, "fx", "confirm", proposal, "--by", "carol")
    assert status == 1 and out.startswith("error: rate_not_pending:"), out
    code, out = corridor(engine, "fx", "history", "INR/KES")
    assert code == 0
    lines = out.splitlines()
    assert "live" in lines[0] and "pushed by alice" in lines[0] and "confirmed by bob" in lines[0]
    assert "moved 968 bps" in lines[0]


def test_a_proposal_overtaken_by_a_newer_rate_cannot_be_confirmed(engine: Engine) -> None:
    assert corridor(engine, "fx", "set", "INR/KES", "1.5500", "--by", "alice")[0] == 0
    status, out = corridor(engine, "fx", "set", "INR/KES", "1.9000", "--by", "alice")
    proposal = out.split("proposal ")[1].split()[0]
    assert corridor(engine, "fx", "set", "INR/KES", "1.5600", "--by", "alice")[0] == 0
    status, out = corridor(engine, "fx", "confirm", proposal, "--by", "bob")
    assert status == 1 and out.startswith("error: rate_superseded:"), out
    assert live(engine) == {"INR/KES": "1.5600"}


def test_an_older_rate_than_the_current_one_is_refused(engine: Engine) -> None:
    at = datetime.now(UTC)
    assert corridor(engine, "fx", "set", "INR/KES", "1.5500", "--by", "feed",
                    "--at", rfc3339(at))[0] == 0
    status, out = corridor(engine, "fx", "set", "INR/KES", "1.5400", "--by", "feed",
                           "--at", rfc3339(at - timedelta(minutes=1)))
    assert status == 1 and out.startswith("error: rate_not_newer:"), out
    assert live(engine) == {"INR/KES": "1.5500"}


@pytest.fixture
def live_engine(tmp_path: Path, dsn: str, clock: Clock) -> Iterator[Engine]:
    """An engine on a site that prices only on rates at most 60 s old."""
    root = copy_site(tmp_path)
    set_value(root, "hub.yaml", ["fx", "max_age_seconds"], 60)
    e = Engine(load_site(root), dsn, tmp_path, clock=clock)
    e.start()
    try:
        yield e
    finally:
        e.stop()


def test_a_stale_rate_refuses_quotes_503_until_a_fresh_one_comes(
        live_engine: Engine, clock: Clock) -> None:
    engine = live_engine
    # hub.yaml's rate carries no time: with a max age, it prices nothing.
    err = refused(engine, "q0")
    assert (err.status, err.code) == (503, "rates_stale")
    assert "INR/KES" in err.detail
    assert corridor(engine, "fx", "set", "INR/KES", "1.5500", "--by", "feed",
                    "--at", rfc3339(clock.now))[0] == 0
    assert quote(engine, "q1")["rate"] == str(
        (Decimal("1.5500") * Decimal("0.985")).quantize(Decimal("1E-8")))
    clock.advance(61)
    err = refused(engine, "q2")
    assert (err.status, err.code) == (503, "rates_stale")
    assert engine.refused_stale == 2
    code, out = corridor(engine, "fx", "rates", "--json")
    assert code == 0
    shown = {r["pair"]: r for r in json.loads(out)["rates"]}
    assert shown["INR/KES"]["source"] == "treasury" and shown["INR/PHP"]["stale"] is True


def test_a_rates_file_is_taken_whole_or_not_at_all(engine: Engine, tmp_path: Path) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("pair,rate,source,at\nINR/KES,1.5500,refinitiv,\nINR/PHP,-0.67,,\n"
                     "AED/KES,abc,,\n")
    code, out = corridor(engine, "fx", "watch", str(rates), "--by", "feed", "--once")
    assert code == 1
    assert f"error: {rates}:3: rate_not_positive:" in out
    assert f"error: {rates}:4: invalid_rate:" in out
    assert live(engine) == {}  # the good line 2 is not taken from a faulty file either
    at = rfc3339(datetime.now(UTC))
    rates.write_text(f"pair,rate,source,at\nINR/KES,1.5500,refinitiv,{at}\n"
                     f"INR/PHP,0.6800,,{at}\nAED/KES,40.0000,,{at}\n")
    code, out = corridor(engine, "fx", "watch", str(rates), "--by", "feed", "--once")
    # AED/KES 35.12 -> 40 is beyond the band: a proposal, said as a refusal of its line.
    assert code == 1 and f"{rates}:4: rate_move_beyond_band:" in out, out
    assert live(engine) == {"INR/KES": "1.5500", "INR/PHP": "0.6800"}
    # The same file again pushes nothing twice.
    code, out = corridor(engine, "fx", "watch", str(rates), "--by", "feed", "--once")
    assert code == 0 and out == "", out
    assert live(engine) == {"INR/KES": "1.5500", "INR/PHP": "0.6800"}
    conn = engine.connect()
    try:
        assert len(rates_store.history(conn)) == 3  # two live, one proposal
    finally:
        conn.close()
