"""`corridor trace`: one transfer's whole path as a timeline, from what the servers already
record: TXN's store (the quote, the status events with their screening and decisions, the
ledger journals, the payout and sender-callback messages with their attempts and last
error, flagged contradictions), EIG's security audit log (calls about the transfer that were
refused, with source address and certificate fingerprint) and, when present, the spans
files of EIG and TXN (`corridor.tracing`): every span of the traces that name the
transfer: each partner call with its source address, certificate fingerprint, key id and
the time spent in EIG, each payout call (endpoint, HTTP status, latency, outcome), each
receiver callback and each sender-callback delivery.

Across hosts: each server keeps its audit log and spans under its own host's data
directory. `--data` is TXN's (with its store, unless `--store`); each `--from DIR` adds
another host's data directory (copied or mounted here), and the steps of all of them are
merged by time."""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from corridor.clikit import data_option, fail, site_option, store_option
from corridor.core.money import format_minor
from corridor.core.times import parse_time, rfc3339
from corridor.eig.server import audit_path
from corridor.store import Connection
from corridor.store import reads as q
from corridor.tracing import SERVERS_TRACED, spans_path
from corridor.txn.cli.store import opened


def timeline(conn: Connection, data_dirs: Sequence[Path],
             transfer_id: str) -> dict[str, Any] | None:
    """The transfer and its steps, oldest first, each with the seconds since the one before,
    from TXN's store and the audit logs and spans under `data_dirs` (one per host); None
    when TXN's store has no such transfer."""
    row = q.transfer(conn, transfer_id)
    if row is None:
        return None
    steps: list[dict[str, Any]] = []

    def step(at: str, hop: str, what: str, **detail: Any) -> None:
        steps.append({"at": at, "hop": hop, "what": what,
                      **{k: v for k, v in detail.items() if v is not None}})

    quote = q.quote(conn, row.quote_id)
    if quote is not None:
        step(_text(quote.created_at), "TXN", f"quote {row.quote_id} used: rate {row.rate}, fee "
             f"{format_minor(row.fee_minor, row.send_currency)} {row.send_currency}",
             quote=row.quote_id, expires_at=_text(quote.expires_at))
    for _, kind, at, data in q.transfer_events(conn, transfer_id):
        d = msgspec.json.decode(data)
        if kind == "transfer.status":
            why = f" ({d['code']}: {d['reason']})" if d.get("code") else ""
            screening = d.get("screening")
            if d["status"] == "ACCEPTED":
                why += (" screening: clear" if screening is None else
                        f" screening: {screening['party']} matched {screening['name']} "
                        f"score {screening['score']}")
            step(at, "TXN", f"status {d['status']}{why}", status=d["status"],
                 previous=d.get("previous"), code=d.get("code"), reason=d.get("reason"),
                 screening=screening)
        elif kind == "transfer.routed":
            step(at, "TXN", f"payout routed {d['from']} -> {d['to']}: {d['reason']}", data=d)
        else:
            step(at, "TXN", kind, data=d)
    journals: dict[str, list[Any]] = {}
    for journal, kind, state, account, currency, amount, at in q.transfer_entries(conn,
                                                                                  transfer_id):
        journals.setdefault(journal, [kind, state, at, []])[3].append(
            {"account": account, "currency": currency, "amount": amount})
    for journal, (kind, state, at, legs) in journals.items():
        step(at, "ledger", f"journal {journal} {kind} ({state}, {len(legs)} legs)",
             journal=journal, legs=legs)
    for (_, kind, partner, state, attempts, created, due, error,
         give_up) in q.transfer_messages(conn, transfer_id):
        what = "payout to" if kind == "payout" else "sender callback to"
        last = f", last error: {error}" if error else ""
        step(created, "outbox", f"{what} {partner}: {state} after {attempts} attempt(s){last}",
             kind=kind, partner=partner, state=state, attempts=attempts, due_at=due,
             last_error=error, give_up_at=give_up)
    for kind, partner_status, detail, action, at, resolved in q.transfer_flags(conn, transfer_id):
        step(at, "reconcile", f"flag {kind}: partner says {partner_status}; {detail}",
             action=action, resolved_at=resolved)
    found = _spans(data_dirs, transfer_id)
    inside: dict[str, float] = {}  # span id -> seconds its children took
    for span in found:
        if span.get("parent_id"):
            inside[span["parent_id"]] = inside.get(span["parent_id"], 0.0) + _took(span)
    for span in found:
        service = span["resource"]["attributes"].get("service.name", "span")
        step(span["start_time"], service.removeprefix("corridor-").upper(),
             _span_text(span, inside.get(span["context"]["span_id"], 0.0)),
             trace_id=span["context"]["trace_id"], span_id=span["context"]["span_id"],
             parent_id=span.get("parent_id"), seconds=round(_took(span), 6),
             attributes=span.get("attributes") or None)
    for line in _refusals(data_dirs, transfer_id):
        step(line["time"], "EIG", f"refused {line.get('request')}: {line['reason']}",
             source_ip=line.get("source_ip"), fingerprint=line.get("fingerprint"),
             partner=line.get("partner") or line.get("partner_claimed"),
             detail=line.get("detail"))
    steps.sort(key=lambda s: parse_time(s["at"]))
    before: datetime | None = None
    for s in steps:
        moment = parse_time(s["at"])
        # One form for every source (the store keeps milliseconds, spans microseconds,
        # the audit logs their own): the timeline's column lines up.
        s["at"] = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
        s["after_s"] = None if before is None else round((moment - before).total_seconds(), 3)
        before = moment
    return {
        "transfer": {
            "id": row.id, "partner": row.partner_id, "reference": row.reference,
            "receive_partner": row.receive_partner_id, "status": row.status,
            "send": f"{format_minor(row.send_minor, row.send_currency)} {row.send_currency}",
            "receive": f"{format_minor(row.receive_minor, row.receive_currency)} "
                       f"{row.receive_currency}",
        },
        "steps": steps,
    }


def _took(span: dict[str, Any]) -> float:
    return (parse_time(span["end_time"]) - parse_time(span["start_time"])).total_seconds()


def _span_text(span: dict[str, Any], children_s: float) -> str:
    """One span as a line of the timeline, in the words of its hop."""
    name, a = span["name"], span.get("attributes") or {}
    took = _took(span)
    ms = f"{took * 1000:.1f} ms"
    status = a.get("http.response.status_code")
    answer = f"HTTP {status}" if status is not None else a.get("error.type", "no answer")
    if name.startswith("eig "):
        key = a.get("corridor.api_key.id")
        who = (f" from {a.get('client.address') or '?'}, certificate "
               f"{(a.get('tls.client.fingerprint') or '?')[:16]}.., key {key or 'none'}")
        return (f"{name[4:]}{who}: {answer} in {ms}, {max(took - children_s, 0) * 1000:.1f} "
                f"ms of it in EIG")
    if name in ("txn payout", "txn payout status"):
        what = "payout" if name == "txn payout" else "payout status query"
        return (f"{what} to {a.get('corridor.partner')} (claim {a.get('corridor.attempt')}): "
                f"{a.get('corridor.outcome', '?')} in {ms}")
    if name == "txn sender_callback":
        return (f"sender callback to {a.get('corridor.partner')} (attempt "
                f"{a.get('corridor.attempt')}): {a.get('corridor.outcome', '?')}, {answer} "
                f"in {ms}")
    if "server.address" in a:  # a call of the payout to the receive partner
        return (f"{name} to {a['server.address']} (try {a.get('corridor.attempt')}): "
                f"{answer} in {ms}")
    return f"{name}: {ms}"


def _refusals(data_dirs: Sequence[Path], transfer_id: str) -> list[dict[str, Any]]:
    """EIG's audit lines about the transfer, from each host's log; a line seen in two
    copies of one log counts once."""
    needle = transfer_id.encode()
    out: dict[bytes, dict[str, Any]] = {}
    for data_dir in data_dirs:
        for raw in _lines(audit_path(data_dir)):
            if needle in raw and raw not in out:
                line = msgspec.json.decode(raw)
                # About the transfer: named by the call, or in the path of a call refused
                # before it was read (who called, from where).
                if line.get("transfer_id") == transfer_id or transfer_id in (
                        line.get("request") or ""):
                    out[raw] = line
    return list(out.values())


def _spans(data_dirs: Sequence[Path], transfer_id: str) -> list[dict[str, Any]]:
    """The spans of every trace one of whose spans names the transfer, from the servers'
    spans files under each of `data_dirs` (those present); a span seen twice counts once.
    Two passes over the files, decoding only the lines that can matter: those naming the
    transfer, then those of its traces."""
    files = [spans_path(d, server) for d in data_dirs for server in SERVERS_TRACED]
    needle = transfer_id.encode()
    traces: set[bytes] = set()
    for path in files:
        for raw in _lines(path):
            if needle in raw:
                span = msgspec.json.decode(raw)
                if span.get("attributes", {}).get("corridor.transfer_id") == transfer_id:
                    traces.add(span["context"]["trace_id"].encode())
    found: dict[str, dict[str, Any]] = {}
    if traces:
        for path in files:
            for raw in _lines(path):
                if any(t in raw for t in traces):
                    span = msgspec.json.decode(raw)
                    if span["context"]["trace_id"].encode() in traces:
                        found.setdefault(span["context"]["span_id"], span)
    return list(found.values())


def _lines(path: Path) -> Iterator[bytes]:
    """The lines of a log and of its rotated copies beside it (logrotate's `NAME.1`,
    `NAME.2.gz`, ...), oldest first; read as streams."""
    def age(copy: Path) -> int:
        number = copy.name[len(path.name) + 1:].split(".")[0]
        return int(number) if number.isdigit() else 0

    copies = sorted(path.parent.glob(path.name + ".*"), key=age, reverse=True)
    for one in [*copies, path]:
        if one.is_file():
            with gzip.open(one, "rb") if one.suffix == ".gz" else one.open("rb") as f:
                yield from f


def _text(value: Any) -> str:
    return rfc3339(value) if isinstance(value, datetime) else str(value)


@click.command("trace")
@site_option
@data_option
@store_option
@click.argument("transfer_id", required=False)
@click.option("--partner", default=None, help="The send partner (with --reference).")
@click.option("--reference", default=None, help="The send partner's own reference.")
@click.option("--from", "sources", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Another host's data directory (EIG's audit log and spans, TXN's spans), "
                   "copied or mounted here; repeat for each host.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for tools.")
def trace(site_dir: Path, data_dir: Path, store: str | None, transfer_id: str | None,
          partner: str | None, reference: str | None, sources: tuple[Path, ...],
          as_json: bool) -> None:
    """A transfer's whole path as a timeline: TRANSFER_ID, or --partner P --reference REF.
    --data is TXN's host's data directory; add each other host's with --from."""
    if (transfer_id is None) == (partner is None or reference is None):
        fail("give TRANSFER_ID, or --partner and --reference", 2)
    with opened(site_dir, data_dir, store) as (_, conn):
        if transfer_id is None:
            found = q.transfers(conn, partner_id=partner, reference=reference, limit=1)
            if not found:
                fail(f"no transfer of {partner} with reference {reference}")
            transfer_id = found[0].id
        got = timeline(conn, [data_dir, *sources], transfer_id)
    if got is None:
        fail(f"transfer {transfer_id} not found")
        return
    if as_json:
        click.echo(msgspec.json.encode(got).decode())
        return
    t = got["transfer"]
    click.echo(f"{t['id']}  {t['partner']} ref {t['reference']} -> {t['receive_partner']}  "
               f"{t['send']} -> {t['receive']}  {t['status']}")
    for s in got["steps"]:
        gap = "" if s["after_s"] is None else f"+{s['after_s']:.3f}s"
        click.echo(f"  {s['at']}  {gap:>10}  {s['hop']:<9} {s['what']}")
