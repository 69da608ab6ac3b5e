"""The seam to receive partners: a connector per receive partner, chosen by the
partner's `connector` kind in the site (or the `connector` setting, $CORRIDOR_CONNECTOR,
which overrides every partner's kind: tests of the engine alone use `in-process`).

A connector answers three questions of the partner's API: does this account exist
(`validate_account`), please pay this out (`submit_payout`, idempotent by key: asking
again returns the first answer), and what became of it (`query_status`); and it forwards
a send partner's recall of a completed payout (`request_recall`, idempotent by key; the
return or refusal it leads to may come later, through
`corridor.txn.commands.returns`). The
`https-json` kind lives in corridor.txn.https_connector, which calls `register`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from corridor.core.money import Money
from corridor.settings import Settings
from corridor.site.model import Partner, Site

log = logging.getLogger("corridor.txn.connectors")


@dataclass(frozen=True, slots=True)
class Payout:
    transfer_id: str
    reference: str
    receive_partner_id: str
    amount: Money
    payout_method: str
    beneficiary: dict[str, Any]
    sender: dict[str, Any] = field(default_factory=dict)
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class PayoutResult:
    # pending: the partner took it, the outcome follows; unknown: no usable answer;
    # not_found: a status query says the partner never received it; not_sent: no
    # connection could be opened for a submission, so the partner cannot have it.
    status: Literal["completed", "failed", "pending", "unknown", "not_found", "not_sent"]
    partner_reference: str | None = None
    reason: str | None = None
    # the partner could not be reached (connects failed or timed out): counts against its
    # circuit breaker (corridor.txn.routing)
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class RecallResult:
    # accepted: the partner has the recall, its return (or refusal) follows; refused: it
    # will not give the funds back (`reason`); returned: it gave them back already, in
    # this answer; unknown: no usable answer (asked again later).
    status: Literal["accepted", "refused", "returned", "unknown"]
    reason: str | None = None
    return_reference: str | None = None  # returned: the partner's id for the return


@dataclass(frozen=True, slots=True)
class AccountCheck:
    valid: bool
    holder_name: str | None = None


class Connector(Protocol):
    async def validate_account(self, payout_method: str, account: str,
                               name: str | None) -> AccountCheck: ...

    async def submit_payout(self, payout: Payout, idempotency_key: str) -> PayoutResult: ...

    async def query_status(self, payout: Payout, idempotency_key: str) -> PayoutResult: ...

    async def request_recall(self, payout: Payout, reason: str,
                             idempotency_key: str) -> RecallResult: ...
    async def probe(self) -> bool:
        """Whether the partner's API answers at all (the circuit breaker's probe)."""
        ...

    async def close(self) -> None: ...


class InProcessConnector:
    """A receive partner inside the hub's process: every payout completes at once. Used by
    tests and the first demo; it keeps the answers it gave so a resubmission under the
    same key is answered, not paid again."""

    def __init__(self, partner: Partner) -> None:
        self.partner = partner
        self.answers: dict[str, PayoutResult] = {}
        self.payouts = 0

    async def validate_account(self, payout_method: str, account: str,
                               name: str | None) -> AccountCheck:
        if payout_method not in self.partner.payout_methods or account.startswith("000"):
            return AccountCheck(valid=False)
        return AccountCheck(valid=True, holder_name=name or "Account Holder")

    async def submit_payout(self, payout: Payout, idempotency_key: str) -> PayoutResult:
        answer = self.answers.get(idempotency_key)
        if answer is None:
            self.payouts += 1
            answer = PayoutResult("completed", partner_reference=f"ip-{payout.transfer_id}")
            self.answers[idempotency_key] = answer
        return answer

    async def query_status(self, payout: Payout, idempotency_key: str) -> PayoutResult:
        return self.answers.get(idempotency_key) or PayoutResult("not_found")

    async def request_recall(self, payout: Payout, reason: str,
                             idempotency_key: str) -> RecallResult:
        """Gives the funds back at once, as a partner honouring every recall would (every
        payout asked of it completes at once, whichever process asked)."""
        return RecallResult("returned", reason=f"recalled: {reason}",
                            return_reference=f"ip-r-{payout.transfer_id}")
    async def probe(self) -> bool:
        return True

    async def close(self) -> None:
        return None


Factory = Callable[[Site, Partner, Settings], Connector]
KINDS: dict[str, Factory] = {
    "in-process": lambda site, partner, settings: InProcessConnector(partner)}
# Kinds that live in their own module and register themselves when it is imported.
MODULES = {"https-json": "corridor.txn.https_connector",
           "iso20022": "corridor.txn.iso_connector"}


def register(kind: str, factory: Factory) -> None:
    """Make a connector kind available (`https-json` registers itself here)."""
    KINDS[kind] = factory


class Connectors:
    """One connector per receive partner, made on first use."""

    def __init__(self, site: Site, settings: Settings) -> None:
        self.site = site
        self.settings = settings
        self._made: dict[str, Connector | None] = {}

    def kind(self, partner: Partner) -> str | None:
        return self.settings.connector or partner.connector

    def for_partner(self, partner_id: str) -> Connector | None:
        """The partner's connector, or None when its kind is not available here."""
        if partner_id not in self._made:
            partner = self.site.partner(partner_id)
            kind = self.kind(partner) if partner is not None else None
            if kind in MODULES and kind not in KINDS:
                importlib.import_module(MODULES[kind])
            factory = KINDS.get(kind or "")
            if partner is None or factory is None:
                log.warning("no connector of kind %r for receive partner %s", kind, partner_id)
                self._made[partner_id] = None
            else:
                try:
                    self._made[partner_id] = factory(self.site, partner, self.settings)
                except (OSError, ValueError) as exc:  # no endpoint, secret or certificate
                    log.warning("cannot reach receive partner %s: %s", partner_id, exc)
                    self._made[partner_id] = None
        return self._made[partner_id]

    def use_site(self, site: Site) -> list[Connector]:
        """Follow a reloaded site: a partner whose file changed (or that left) gets a new
        connector when next used. The connectors let go, for the caller to close once
        their calls in flight are done."""
        old, self.site = self.site, site
        dropped = []
        for partner_id in list(self._made):
            if old.partner(partner_id) != site.partner(partner_id):
                connector = self._made.pop(partner_id)
                if connector is not None:
                    dropped.append(connector)
        return dropped

    async def close(self) -> None:
        for connector in self._made.values():
            if connector is not None:
                await connector.close()
