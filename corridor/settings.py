"""Corridor's environment knobs, read once where a process starts.

Every `CORRIDOR_*` variable the hub's own code reads is a field of `Settings`, named after
the field (`txn_lease_s` is `CORRIDOR_TXN_LEASE_S`), with its default, unit and meaning.
The `corridor` command reads them once (`corridor.clikit.settings`) and hands the values
to what needs them as constructor arguments; no module reads the environment when it is
imported. An empty variable counts as unset. docs/DEVELOPING.md lists them for operators.

msgspec parses and checks the values (its lax mode turns "15" into 15.0, "1" into True);
`from_env` turns its first complaint into one line that names the variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

import msgspec
from msgspec import Meta

from corridor.core.errors import InvalidInput
from corridor.site.loader import CONNECTORS
from corridor.store.dsn import kind, shown

PREFIX = "CORRIDOR_"
# Knobs that hold a DSN, whose password a message must not show.
DSNS = frozenset({"txn_store", "test_pg"})


def _knob(meaning: str, unit: str = "", **bounds: float) -> Meta:
    return Meta(description=meaning, extra={"unit": unit}, **bounds)


class SettingsInvalid(Exception):
    """A knob's value cannot be used; the message is one line naming the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """One process's knobs. `Settings()` is every default; tests build it with the few
    values they change."""

    site: Annotated[str | None, _knob(
        "default --site of every command (else ./site, else examples/site)", "path")] = None
    data: Annotated[str, _knob(
        "default --data of every command: stores, logs, runtime state", "path")] = "var"
    txn_store: Annotated[str | None, _knob(
        "TXN store DSN, over hub.yaml store.txn (default --store)", "DSN")] = None
    txn_workers: Annotated[int, _knob(
        "outbox worker processes beside TXN's API process (0: inside it)", "processes",
        ge=0, le=16)] = 0
    txn_hold_payouts: Annotated[bool, _knob(
        "fault/demo knob: TXN accepts transfers but submits no payouts", "1/0")] = False
    txn_lease_s: Annotated[float, _knob(
        "how long a claimed payout stays with its worker before another may claim it "
        "(after a crash, how long it waits); longer than a connector's timeout", "s",
        gt=0)] = 15.0
    connector: Annotated[str | None, _knob(
        "test/bench knob: connector kind for every receive partner, over the site's "
        f"({' or '.join(CONNECTORS)})", "kind")] = None
    connector_timeout_s: Annotated[float, _knob(
        "one call to a receive partner's API, per attempt", "s", gt=0)] = 10.0
    connector_retries: Annotated[int, _knob(
        "extra attempts after a connection error or 5xx from a receive partner", "attempts",
        ge=0)] = 2
    connector_backoff_s: Annotated[float, _knob(
        "first pause before such a retry; doubles each retry", "s", ge=0)] = 0.2
    payout_poll_s: Annotated[float, _knob(
        "pause before asking again about a payout still PENDING (no callback); doubles",
        "s", gt=0)] = 30.0
    payout_retry_s: Annotated[float, _knob(
        "pause before asking about a payout left UNKNOWN (no usable answer); doubles", "s",
        gt=0)] = 5.0
    payout_poll_max_s: Annotated[float, _knob(
        "longest pause between status queries of a PENDING or UNKNOWN payout", "s",
        gt=0)] = 600.0
    breaker_failures: Annotated[int, _knob(
        "consecutive failed or timed-out connects that take a receive partner out of "
        "rotation", "connects", ge=1)] = 3
    breaker_probe_s: Annotated[float, _knob(
        "pause before a partner out of rotation is probed (again)", "s", gt=0)] = 10.0
    callback_retry_for_s: Annotated[float, _knob(
        "how long a sender callback is retried before it is parked for replay", "s",
        gt=0)] = 86400.0
    callback_backoff_s: Annotated[float, _knob(
        "first pause before a failed sender callback is sent again; doubles", "s",
        gt=0)] = 1.0
    callback_backoff_max_s: Annotated[float, _knob(
        "longest pause between sender-callback attempts", "s", gt=0)] = 300.0
    callback_timeout_s: Annotated[float, _knob(
        "one sender-callback POST", "s", gt=0)] = 10.0
    # On by default, at a cost within the benches' noise: the decision to record is taken
    # once, where a trace enters the hub, and an unrecorded call does no span work at all
    # (docs/monitoring.md has the figures).
    tracing: Annotated[bool, _knob(
        "OpenTelemetry spans of the servers, to DATA/<server>/spans.jsonl (and OTLP)",
        "1/0")] = True
    trace_sample: Annotated[float, _knob(
        "share of the traces the hub starts itself (a partner call without a sampled "
        "traceparent) that it records; a partner's sampled traceparent is followed (see "
        "CORRIDOR_TRACE_FOLLOW)",
        "ratio", ge=0, le=1)] = 0.01
    # A partner that marks every call sampled would otherwise have the hub record them all.
    trace_follow: Annotated[float, _knob(
        "sampled traceparents a second one partner may have the hub record (per EIG "
        "process, a burst of as many); beyond, its calls go on unsampled, trace id kept",
        "per s", gt=0)] = 20.0
    otlp_endpoint: Annotated[str | None, _knob(
        "OTLP/HTTP traces endpoint the servers' spans go to as well, e.g. "
        "http://collector:4318/v1/traces", "URL")] = None
    test_pg: Annotated[str, _knob(
        "PostgreSQL server of `bench txn --store postgresql` (the tests read it too)",
        "DSN")] = "postgresql://postgres@127.0.0.1:5432/test"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The knobs set in `environ`, the rest at their defaults; SettingsInvalid names
        the first variable whose value cannot be used."""
        given = {name: environ[env] for name, env in env_names().items() if environ.get(env)}
        try:
            settings = msgspec.convert(given, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsInvalid(_explain(str(exc), given)) from None
        if settings.connector is not None and settings.connector not in CONNECTORS:
            raise SettingsInvalid(f"{env_name('connector')}={settings.connector!r}: expected "
                                  f"{' or '.join(CONNECTORS)}")
        if settings.txn_store:
            try:
                kind(settings.txn_store)
            except InvalidInput as exc:
                raise SettingsInvalid(f"{env_name('txn_store')}: {exc.detail}") from None
        return settings


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def env_names() -> dict[str, str]:
    """Field name -> environment variable, in declaration order."""
    return {name: env_name(name) for name in Settings.__struct_fields__}


# msgspec's words for a JSON document, in the words of an environment variable.
_TYPES = {"`int`": "an integer", "`float`": "a number", "`bool`": "1, 0, true or false"}
_WHERE = re.compile(r"\s*-\s*at `\$\.(\w+)`$")


def _explain(message: str, given: Mapping[str, str]) -> str:
    """"Expected `int` >= 0 - at `$.txn_workers`" -> "CORRIDOR_TXN_WORKERS='-1': expected
    an integer >= 0"."""
    where = _WHERE.search(message)
    if where is None:  # not about one field (msgspec always names it; kept safe)
        return f"bad {PREFIX}* setting: {message}"
    field = where[1]
    text = message[:where.start()].replace(", got `str`", "")
    for word, plain in _TYPES.items():
        text = text.replace(word, plain)
    value = given.get(field, "")
    shown_value = shown(value) if field in DSNS else value
    return f"{env_name(field)}={shown_value!r}: {text[:1].lower()}{text[1:]}"
