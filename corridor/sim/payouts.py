"""The receive partner's books: the payouts it was asked for and the wallets they credit.

A submit is found or booked, and settled, in one step with no await inside, so on the
simulator's event loop the check and the credit can never be split: a payout is
idempotent by Idempotency-Key and by payout id, and a wallet is never credited twice for
one payout. The outcome is decided when the payout is received (`failure_rate` draws
from the simulator's seeded generator).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from corridor.api.receive_partner import PayoutAnswer, PayoutRequest
from corridor.core.errors import Conflict, InvalidInput
from corridor.core.money import parse_minor
from corridor.core.times import rfc3339
from corridor.sim.faults import InjectedFaults
from corridor.sim.wallets import Credit, WalletBook
from corridor.site.model import Partner
from corridor.web import decode


@dataclass(slots=True)
class Payout:
    """A payout as the partner's books hold it."""

    request: PayoutRequest
    body_hash: str  # of the first request, to tell a replay from a conflicting reuse
    answer: PayoutAnswer  # what the submit answered (replayed on the same key)
    status: str  # SUCCESS or FAILURE: the outcome, decided when it was received
    reason: str | None
    credited: bool
    received_at: str
    return_reference: str | None = None  # set once the payout was given back
    return_reason: str | None = None


class Payouts:
    """Payouts by id, the Idempotency-Keys that asked for them, and the wallet book."""

    def __init__(self, partner: Partner, faults: InjectedFaults, rng: random.Random) -> None:
        self.partner, self.faults, self.random = partner, faults, rng
        self.wallets = WalletBook(partner.country, partner.currency)
        self.by_id: dict[str, Payout] = {}
        self.keys: dict[str, str] = {}  # Idempotency-Key -> payout_id
        self.next_ref = 0

    def get(self, payout_id: str) -> Payout | None:
        return self.by_id.get(payout_id)

    def keys_of(self, payout_id: str) -> list[str]:
        """The Idempotency-Keys that asked for this payout, sorted."""
        return sorted(k for k, v in self.keys.items() if v == payout_id)

    def book(self, key: str, body: bytes) -> tuple[Payout, bool]:
        """Find the payout this request repeats, or record and settle a new one: (payout,
        whether it is new). No await here: the check and the credit happen as one step
        on the event loop."""
        digest = hashlib.sha256(body).hexdigest()
        known = self.keys.get(key)
        if known is not None:
            payout = self.by_id[known]
            if payout.body_hash != digest:
                raise Conflict("Idempotency-Key reused with a different body",
                               code="idempotency_conflict")
            return payout, False
        ask = decode(body, PayoutRequest)
        self.check_method(ask.payout_method, ask.currency)
        minor = parse_minor(ask.amount, ask.currency)
        if minor <= 0:
            raise InvalidInput("amount must be above zero", code="invalid_amount")
        if ask.payout_id in self.by_id:  # same payout under another key: never twice
            payout = self.by_id[ask.payout_id]
            self.keys[key] = ask.payout_id
            return payout, False
        self.next_ref += 1
        ref = f"{self.partner.id[:2].upper()}-{self.next_ref:06d}"
        now = rfc3339(datetime.now(UTC))
        status, reason, credited = self._settle(ask, minor, ref, now)
        shown = status if self.faults.sync_outcome else "PENDING"
        answer = PayoutAnswer(payout_id=ask.payout_id, partner_reference=ref, status=shown,
                              reason=reason if shown == "FAILURE" else None)
        payout = Payout(ask, digest, answer, status, reason, credited, now)
        self.by_id[ask.payout_id] = payout
        self.keys[key] = ask.payout_id
        return payout, True

    def _settle(self, ask: PayoutRequest, minor: int, ref: str, now: str
                ) -> tuple[str, str | None, bool]:
        account = ask.beneficiary.account or ""
        wallet = self.wallets.get(account)
        if wallet is None:
            return "FAILURE", f"no wallet {account}", False
        if wallet.frozen:
            return "FAILURE", "wallet is frozen", False
        if self.faults.failure_rate and self.random.random() < self.faults.failure_rate:
            return "FAILURE", "simulated payout failure", False
        self.wallets.credit(account, Credit(ask.payout_id, minor, now, ref))
        return "SUCCESS", None, True

    def give_back(self, payout_id: str, reason: str) -> tuple[Payout | None, str | None]:
        """Take a credited payout back from its wallet, once: (the payout, None), or (the
        payout or None, why it cannot be given back). No await here, as for a credit."""
        payout = self.by_id.get(payout_id)
        if payout is None:
            return None, "no such payout"
        if payout.return_reference is not None:
            return payout, None  # given back already: the same return
        if not payout.credited:
            return payout, "the payout was never credited"
        wallet = self.wallets.get(payout.request.beneficiary.account or "")
        minor = parse_minor(payout.request.amount, payout.request.currency)
        if wallet is None or wallet.balance < minor:
            return payout, "the beneficiary has already withdrawn the funds"
        wallet.balance -= minor
        self.next_ref += 1
        payout.return_reference = f"{self.partner.id[:2].upper()}-R-{self.next_ref:06d}"
        payout.return_reason = reason
        return payout, None

    def check_method(self, method: str, currency: str) -> None:
        if method not in self.partner.payout_methods:
            raise InvalidInput(f"payout method {method!r} is not offered",
                               code="payout_method_not_supported")
        if currency not in self.partner.currencies:
            raise InvalidInput(f"currency {currency} is not paid out here",
                               code="currency_not_supported")

    # -- the optional state file ---------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What a state file keeps: the books, without the wallets nobody credited."""
        return {
            "next_reference": self.next_ref,
            "wallets": {w.account: {"balance": w.balance,
                                    "credits": [dataclasses.asdict(c) for c in w.credits]}
                        for w in self.wallets.touched()},
            "payouts": {pid: {"request": msgspec.to_builtins(p.request), "body_hash": p.body_hash,
                              "answer": msgspec.to_builtins(p.answer), "status": p.status,
                              "reason": p.reason, "credited": p.credited,
                              "received_at": p.received_at,
                              "return_reference": p.return_reference,
                              "return_reason": p.return_reason}
                        for pid, p in self.by_id.items()},
            "keys": self.keys,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the books back from a state file's `state()`."""
        self.next_ref = int(state.get("next_reference", 0))
        for account, saved in state.get("wallets", {}).items():
            wallet = self.wallets.get(account)
            if wallet is None:
                continue
            wallet.balance = int(saved["balance"])
            wallet.credits = [Credit(**c) for c in saved["credits"]]
        for pid, saved in state.get("payouts", {}).items():
            self.by_id[pid] = Payout(
                msgspec.convert(saved["request"], PayoutRequest), saved["body_hash"],
                msgspec.convert(saved["answer"], PayoutAnswer), saved["status"],
                saved["reason"], saved["credited"], saved["received_at"],
                saved.get("return_reference"), saved.get("return_reason"))
        self.keys.update(state.get("keys", {}))
