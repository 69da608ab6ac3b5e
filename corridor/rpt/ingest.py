"""Counting TXN's events into the store, exactly once.

A page of the feed (`EventPage` JSON, as TXN serves it), or several consecutive ones, is
applied in one DuckDB transaction together with the new cursor: after a crash either the
whole of it and its cursor are in the store or neither is, and events at or below the
cursor are skipped, so a page fetched twice is counted once. The events are bulk-loaded by
DuckDB's own JSON reader (newline-delimited, parallel), not row by row from Python; Python
only splits the pages into raw events and checks their envelopes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import msgspec

from corridor.core.errors import InvalidInput

# The shape of an event as DuckDB reads it; unknown keys in `data` are ignored, missing
# ones read as NULL, so every event type of the contract fits one column set.
_DATA = (
    "STRUCT(status VARCHAR, previous VARCHAR, send_partner VARCHAR, receive_partner VARCHAR, "
    "corridor VARCHAR, reference VARCHAR, send_amount BIGINT, send_currency VARCHAR, "
    "receive_amount BIGINT, receive_currency VARCHAR, fee BIGINT, fx_margin BIGINT, "
    "rate VARCHAR, created_at VARCHAR, code VARCHAR, reason VARCHAR, "
    "screening STRUCT(party VARCHAR, entry VARCHAR, name VARCHAR, score INTEGER), "
    "sender_key VARCHAR, transfer_id VARCHAR, decision VARCHAR, analyst VARCHAR, "
    "note VARCHAR, partner VARCHAR, currency VARCHAR, amount BIGINT)"
)
_COLUMNS = {
    "seq": "BIGINT", "id": "VARCHAR", "type": "VARCHAR", "transfer_id": "VARCHAR",
    "at": "VARCHAR", "data": _DATA,
}

_STAGE = """
CREATE OR REPLACE TEMP TABLE page AS
SELECT seq, type, transfer_id, "at"::TIMESTAMPTZ AS at_, data AS d
FROM read_json($path, format = 'newline_delimited', columns = {columns})
WHERE seq > $after
"""

_STATUS = """
INSERT INTO status_changes
SELECT seq, transfer_id, at_, d.status, d.previous, d.send_partner, d.receive_partner,
       d.corridor, d.code, d.reason, d.screening.party, d.screening.entry,
       d.screening.name, d.screening.score
FROM page WHERE type = 'transfer.status'
"""

# Every status event carries the transfer's full data, so the page's latest event per
# transfer is its new row; flags that accumulate (held, screening hit, completion time)
# are OR-ed with what the store already has (completion and return times kept once set).
_TRANSFERS = """
INSERT INTO transfers
SELECT transfer_id,
       arg_max(d.reference, seq), arg_max(d.send_partner, seq), arg_max(d.receive_partner, seq),
       arg_max(d.corridor, seq), arg_max(d.send_amount, seq), arg_max(d.send_currency, seq),
       arg_max(d.receive_amount, seq), arg_max(d.receive_currency, seq),
       arg_max(d.fee, seq), arg_max(d.fx_margin, seq), arg_max(d.rate, seq),
       arg_max(d.created_at, seq)::TIMESTAMPTZ,
       arg_max(d.status, seq), arg_max(at_, seq),
       max(at_) FILTER (WHERE d.status = 'COMPLETED'),
       arg_max(d.code, seq), arg_max(d.reason, seq), arg_max(d.sender_key, seq),
       bool_or(d.screening.entry IS NOT NULL), bool_or(d.status = 'COMPLIANCE_HOLD'),
       max(seq), max(at_) FILTER (WHERE d.status = 'RETURNED')
FROM page WHERE type = 'transfer.status'
GROUP BY transfer_id
ON CONFLICT (id) DO UPDATE SET
    status = excluded.status, status_at = excluded.status_at,
    completed_at = coalesce(excluded.completed_at, transfers.completed_at),
    returned_at = coalesce(excluded.returned_at, transfers.returned_at),
    code = excluded.code, reason = excluded.reason,
    screening_hit = transfers.screening_hit OR excluded.screening_hit,
    held = transfers.held OR excluded.held,
    last_seq = excluded.last_seq
"""

_DECISIONS = """
INSERT INTO decisions
SELECT seq, coalesce(d.transfer_id, transfer_id), at_, d.decision, d.analyst, d.note
FROM page WHERE type = 'compliance.decision'
"""

_FUNDINGS = """
INSERT INTO fundings
SELECT seq, at_, d.partner, d.currency, d.amount, d.reference
FROM page WHERE type = 'ledger.funded'
"""

_CURSOR = """
INSERT INTO feed_cursor VALUES (1, $after, $events, now())
ON CONFLICT (id) DO UPDATE SET
    after = excluded.after, events = feed_cursor.events + excluded.events,
    updated_at = excluded.updated_at
"""


class Page(msgspec.Struct):
    """A feed page as far as ingest reads it: its events still raw, and the cursor after."""

    events: list[msgspec.Raw]
    next: int


class _Seq(msgspec.Struct):
    seq: int


decode_page = msgspec.json.Decoder(Page).decode
_seq_decoder = msgspec.json.Decoder(_Seq)


@dataclass(frozen=True, slots=True)
class Applied:
    counted: int  # events newly counted (0 when the whole page was seen before)
    after: int  # the cursor now stored: pass it as ?after= next time


class Ingestor:
    """Applies feed pages to one store connection (the only writer of its store)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, spool: Path | None = None) -> None:
        self.con = con
        # Pages are handed to DuckDB's JSON reader through a private spool file.
        self._dir = Path(tempfile.mkdtemp(prefix="corridor-rpt-", dir=spool))
        self._file = self._dir / "page.ndjson"

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def apply(self, body: bytes) -> Applied:
        """Count one `EventPage` body. A malformed page raises InvalidInput and changes
        nothing."""
        return self.apply_many([body])

    def apply_many(self, bodies: Sequence[bytes]) -> Applied:
        """Count consecutive `EventPage` bodies (each fetched after the one before) in one
        transaction: a transaction costs DuckDB about as much as 4,000 events, so a follower
        catching up commits several pages at once. A malformed page raises
        InvalidInput and changes nothing."""
        pages = []
        for body in bodies:
            try:
                pages.append(decode_page(body))
            except msgspec.DecodeError as exc:
                raise InvalidInput(f"malformed event page: {exc}",
                                   code="invalid_feed") from None
        events = [e for page in pages for e in page.events]
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            rows = con.execute("SELECT after FROM feed_cursor WHERE id = 1").fetchall()
            after = int(rows[0][0]) if rows else 0
            if events and _seq_decoder.decode(events[-1]).seq <= after:
                con.execute("ROLLBACK")  # seen entirely before (a retried fetch)
                return Applied(0, after)
            counted = self._stage(events, after)
            if counted:
                for sql in (_STATUS, _TRANSFERS, _DECISIONS, _FUNDINGS):
                    con.execute(sql)
            new_after = max([after, *(page.next for page in pages)])
            con.execute(_CURSOR, {"after": new_after, "events": counted})
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise InvalidInput(f"event page refused: {exc}", code="invalid_feed") from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return Applied(counted, new_after)

    def _stage(self, events: list[msgspec.Raw], after: int) -> int:
        if not events:
            return 0
        fd = os.open(self._file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(b"\n".join(events))
        self.con.execute(
            _STAGE.format(columns=_COLUMNS), {"path": str(self._file), "after": after}
        )
        return int(self.con.execute("SELECT count(*) FROM page").fetchall()[0][0])
