"""The TXN engine: the use cases behind the internal API, shared by the server, the
bench and the demo. Pure checks (decoding, pricing, KYC, screening) run on the event
loop; everything that reads money state or writes goes to the group-commit writer, and
an answer is returned only after its commit."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, get_args

import msgspec

from corridor.api import schemas as api
from corridor.core.compliance import Screener, check_kyc, sender_key
from corridor.core.errors import CorridorError, InvalidInput, NotFound, Refused
from corridor.core.ids import new_id
from corridor.core.pricing import Quote, price_quote
from corridor.core.times import parse_time, rfc3339
from corridor.site.model import Partner, Site
from corridor.store import Connection, Writer, open_store
from corridor.store import reads as q
from corridor.txn.commands.idempotency import Reply
from corridor.txn.commands.quotes import CreateQuote
from corridor.txn.commands.transfers import CancelTransfer, CreateTransfer
from corridor.txn.wire import encode, transfer_wire

T = TypeVar("T")
S = TypeVar("S")


def decode_body(body: bytes, kind: type[S]) -> S:
    """A request body as its wire struct: 400 `malformed_json`, 422 `invalid_request`."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc), code="invalid_request") from None
    except msgspec.DecodeError as exc:
        raise CorridorError(f"the body is not JSON: {exc}", code="malformed_json") from None


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Engine:
    """One TXN: a site, a store, the writer thread and a small pool of readers."""

    def __init__(self, site: Site, dsn: str, data_dir: Path, *,
                 clock: Callable[[], datetime] | None = None, readers: int = 4) -> None:
        self.site = site
        self.dsn = dsn
        self.data_dir = data_dir
        self.clock = clock or (lambda: datetime.now(UTC))
        self.screener = Screener(site.sanctions, site.hub.sanctions_threshold)
        self.writer = Writer(self.connect)
        self._pool = ThreadPoolExecutor(readers, thread_name_prefix="txn-read")
        self._local = threading.local()
        self._conns: list[Connection] = []
        self._wakers: dict[str, set[asyncio.Event]] = {}  # outbox kind -> pumps' events
        self._loop: asyncio.AbstractEventLoop | None = None  # the pumps' loop
        self.wake_pipes: list[int] = []  # write ends towards pump processes
        self._poked = False
        self.writer.on_queued = self._queued

    def connect(self) -> Connection:
        return open_store(self.dsn, self.data_dir)

    def start(self) -> None:
        self.connect().close()  # migrate once, before anything reads or writes
        with contextlib.suppress(RuntimeError):  # no loop: a command-line tool, no pumps
            self._loop = asyncio.get_running_loop()
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()
        self._pool.shutdown()
        for conn in self._conns:
            conn.close()

    # -- waking the outbox pumps -----------------------------------------------------------

    def waker(self, kind: str) -> asyncio.Event:
        """An event set when outbox messages of `kind` are committed: the pump of that
        kind sleeps on it when idle."""
        self._loop = asyncio.get_running_loop()
        event = asyncio.Event()
        self._wakers.setdefault(kind, set()).add(event)
        return event

    def unwake(self, event: asyncio.Event) -> None:
        for events in self._wakers.values():
            events.discard(event)

    def _queued(self, kinds: set[str]) -> None:
        """On the writer thread: a commit queued outbox messages of `kinds`."""
        loop = self._loop
        if loop is not None:
            # A closed loop raises RuntimeError: nobody waits there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.wake, kinds)

    def wake(self, kinds: Iterable[str] | None = None) -> None:
        """New outbox messages were committed (of `kinds`, or of any kind): wake their
        pumps. A new transfer wakes the payout pump; a final state, the sender callbacks;
        a pump waiting on the other kind sleeps on."""
        for kind in self._wakers if kinds is None else kinds:
            for event in self._wakers.get(kind, ()):
                event.set()
        if self.wake_pipes and not self._poked:
            # Outbox pumps in other processes hear of it too: one byte per pipe, at most
            # once per turn of the event loop however many commits there were.
            self._poked = True
            asyncio.get_running_loop().call_soon(self._poke)

    def _poke(self) -> None:
        self._poked = False
        for fd in self.wake_pipes:
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(fd, b"!")

    def hear_wakes(self, fd: int) -> None:
        """Wake this process's pumps whenever the process holding the other end of the
        pipe `fd` calls `wake()`."""
        def drain() -> None:
            with contextlib.suppress(BlockingIOError):
                os.read(fd, 4096)
            self.wake()

        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, drain)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a read query on a pooled connection, off the event loop."""
        def run() -> T:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self.connect()
                self._conns.append(conn)
            return fn(conn, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    # -- who is asking ---------------------------------------------------------------------

    def sender(self, partner_id: str) -> Partner:
        partner = self.site.partner(partner_id)
        if partner is None or partner.disabled:
            raise Refused(f"unknown partner {partner_id!r}", code="unknown_partner")
        if not partner.sends:
            raise Refused(f"{partner_id} is not a send partner", code="not_a_send_partner")
        return partner

    # -- partner calls -----------------------------------------------------------------------

    async def quote(self, partner_id: str, key: str, body: bytes) -> Reply:
        partner = self.sender(partner_id)
        req = decode_body(body, api.QuoteRequest)
        receiver = self.site.receive_partner_for(req.destination_country, req.receive_currency)
        quote = price_quote(
            self.site.hub.tariff, partner, receiver, send_currency=req.send_currency,
            receive_currency=req.receive_currency, destination_country=req.destination_country,
            payout_method=req.payout_method, send_amount=req.send_amount,
            receive_amount=req.receive_amount, quote_id=new_id(), now=self.clock(),
        )
        return await self.writer.submit(CreateQuote(partner.id, key, body_hash(body), quote))

    async def find_quote(self, quote_id: str) -> Quote | None:
        quote = self.writer.quote_cache.get(quote_id)
        if quote is None:
            quote = await self.read(q.quote, quote_id)
        return quote

    async def create_transfer(self, partner_id: str, key: str, body: bytes) -> Reply:
        partner = self.sender(partner_id)
        req = decode_body(body, api.TransferRequest)
        # `find_quote` without a coroutine when the writer's cache has it, as it usually does.
        quote = self.writer.quote_cache.get(req.quote_id) or await self.find_quote(req.quote_id)
        return await self.writer.submit(self.transfer_command(partner, key, body, req, quote))

    def transfer_command(self, partner: Partner, key: str, body: bytes,
                         req: api.TransferRequest, quote: Quote | None) -> CreateTransfer:
        """Everything pure about a new transfer, checked before it is queued: KYC and the
        sanctions screen (the lists are immutable while the server runs)."""
        sender = msgspec.structs.asdict(req.sender)
        if quote is not None:
            check_kyc(self.site.hub.kyc, quote.corridor, sender,
                      msgspec.structs.asdict(req.beneficiary))
        hit = self.screener.screen_transfer(req.sender.name, req.beneficiary.name)
        command = CreateTransfer(partner, key, body_hash(body), req, quote, hit,
                                 sender_key(partner.id, sender), self.clock())
        command.prepare()
        return command

    async def get_transfer(self, partner_id: str | None, transfer_id: str) -> bytes:
        row = await self.read(q.transfer, transfer_id)
        if row is None or (partner_id is not None and partner_id not in (
                row.partner_id, row.receive_partner_id)):
            raise NotFound(f"transfer {transfer_id} not found", code="transfer_not_found")
        history = await self.read(q.history, transfer_id)
        return encode(transfer_wire(row, history))

    async def list_transfers(self, partner_id: str, params: dict[str, str]) -> bytes:
        limit = bounded_int(params.get("limit", "50"), "limit", 1, 500)
        since = params.get("from")
        until = params.get("to")
        status = params.get("status")
        if status is not None and status not in get_args(api.Status):
            raise InvalidInput(f"unknown status {status!r}", code="invalid_request")
        rows = await self.read(
            q.transfers, partner_id=partner_id, status=status,
            reference=params.get("reference"),
            since=rfc3339(parse_time(since)) if since else None,
            until=rfc3339(parse_time(until)) if until else None,
            after_id=params.get("cursor") or None, limit=limit,
        )
        page = api.TransferPage(
            items=[transfer_wire(r) for r in rows],
            next_cursor=rows[-1].id if len(rows) == limit else None,
        )
        return encode(page)

    async def cancel(self, partner_id: str, key: str, transfer_id: str, body: bytes) -> Reply:
        self.sender(partner_id)
        req = decode_body(body or b"{}", api.CancelRequest)
        return await self.writer.submit(CancelTransfer(
            partner_id, key, body_hash(body), transfer_id, req.reason, self.clock()))

    async def recall(self, partner_id: str, key: str, transfer_id: str, body: bytes) -> Reply:
        """A send partner asks for a completed transfer's funds back (docs/returns.md)."""
        from corridor.txn.commands.returns import RequestRecall

        self.sender(partner_id)
        req = decode_body(body, api.RecallRequest)
        # The call and its transfer are hashed with the body: a key used for a cancel, or
        # for another transfer's recall, with the same body is a conflict, not a replay.
        digest = body_hash(f"recall {transfer_id}\n".encode() + body)
        return await self.writer.submit(RequestRecall(
            partner_id, key, digest, transfer_id, req.reason, self.clock()))

    async def validate_account(self, partner_id: str, body: bytes,
                               connectors: Any) -> bytes:
        self.sender(partner_id)
        req = decode_body(body, api.AccountValidationRequest)
        receiver = self.site.receive_partner_for(req.destination_country, req.receive_currency)
        if receiver is None:
            raise InvalidInput(f"no payout in {req.destination_country} in "
                               f"{req.receive_currency}", code="no_route")
        connector = connectors.for_partner(receiver.id)
        if connector is None:
            raise CorridorError(f"{receiver.id} cannot be reached now", code="unavailable")
        check = await connector.validate_account(req.payout_method, req.account, req.name)
        score = None
        if req.name is not None and check.holder_name is not None:
            from rapidfuzz import fuzz

            from corridor.core.compliance import normalise

            score = int(fuzz.token_sort_ratio(normalise(req.name), normalise(check.holder_name)))
        return encode(api.AccountValidation(account=req.account, valid=check.valid,
                                            holder_name=check.holder_name,
                                            name_match_score=score))

    # -- RPT's feed and the ledger ------------------------------------------------------------

    async def events(self, after: int, limit: int) -> bytes:
        rows = await self.read(q.events, after, limit)
        events = [api.Event(seq=s, id=i, type=t, transfer_id=tid, at=at,
                            data=msgspec.json.decode(data)) for s, i, t, tid, at, data in rows]
        return encode(api.EventPage(events=events, next=rows[-1][0] if rows else after))

    async def balances(self) -> bytes:
        rows = await self.read(q.balances)
        return encode([{"account": a, "currency": cur, "posted": int(p), "pending": int(n)}
                       for a, cur, p, n in rows])

    async def activity(self, since: str, until: str) -> bytes:
        rows = await self.read(q.activity, rfc3339(parse_time(since)), rfc3339(parse_time(until)))
        return encode([{"account": a, "currency": cur, "posted": int(p)} for a, cur, p in rows])


def bounded_int(text: str, name: str, lo: int, hi: int) -> int:
    """A query parameter as an integer in [lo, hi], or a 422 `invalid_request`."""
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer", code="invalid_request") from None
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be between {lo} and {hi}", code="invalid_request")
    return value
