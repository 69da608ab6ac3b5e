"""The `iso20022` connector: TXN paying out through a bank receive partner that speaks
ISO 20022 (docs/iso20022.md) over the same mutual TLS, pool, signature, timeouts and
retries as the `https-json` connector, whose call machinery it reuses.

A payout is a pacs.008.001.08 POSTed to `<endpoint>/iso20022/pacs.008` under
`Idempotency-Key: <transfer id>`; its MsgId, InstrId, EndToEndId and TxId all derive from
the transfer id, so every retry is the same message and the partner never credits twice.
The answer is a pacs.002.001.10 (ACSC/ACCC: completed; RJCT: failed, its ISO reason code
mapped by `corridor.iso20022.codes`; ACSP/PDNG/...: pending). While a payout is UNKNOWN or
pending, TXN asks with a pacs.028.001.03 at `<endpoint>/iso20022/pacs.028`. Every message
built is validated against its XSD before it leaves, every answer after it arrives; an
answer that does not validate, or reports on another payout, is no answer (`unknown`).
A send partner's recall goes as a camt.056 (`request_recall`); the return comes later as a
pacs.004 at EIG (corridor.txn.iso_callbacks).
"""

from __future__ import annotations

import logging
from typing import Any

from corridor.core.errors import Unavailable
from corridor.iso20022 import (
    CONTENT_TYPE,
    MessageRefused,
    camt056,
    pacs002,
    pacs008,
    pacs028,
    parse,
)
from corridor.iso20022.codes import NOT_FOUND, failure_reason
from corridor.site.model import Partner, Site
from corridor.txn.connectors import AccountCheck, Payout, PayoutResult, RecallResult, register
from corridor.txn.https_connector import NOT_DEFINITE, Answer, HttpsJsonConnector, Timing

log = logging.getLogger("corridor.txn.iso")


class Iso20022Connector(HttpsJsonConnector):
    def __init__(self, site: Site, partner: Partner, timing: Timing, **kw: Any) -> None:
        if partner.iso20022 is None:
            raise ValueError(f"receive partner {partner.id} has no iso20022 block")
        super().__init__(site, partner, timing, **kw)
        self.iso = partner.iso20022
        self.hub = pacs008.Agent(name=site.hub.name, other_id=site.hub.id.upper()[:35])
        self.agent = pacs008.Agent(name=partner.name, bic=self.iso.bic,
                                   clearing_id=self.iso.clearing_id,
                                   clearing_system=self.iso.clearing_system)

    async def validate_account(self, payout_method: str, account: str,
                               name: str | None) -> AccountCheck:
        # Account verification (acmt.023/024) is not among the messages Corridor speaks.
        raise Unavailable(f"{self.partner.id} offers no account check over ISO 20022",
                          code="account_check_unsupported")

    def credit_transfer(self, payout: Payout) -> pacs008.CreditTransfer:
        """The pacs.008's content: the FATF R.16 originator and beneficiary data."""
        s: dict[str, Any] = payout.sender
        b: dict[str, Any] = payout.beneficiary
        return pacs008.CreditTransfer(
            transfer_id=payout.transfer_id, amount=payout.amount,
            debtor=pacs008.Party(
                name=s.get("name", ""), account=s.get("account"), country=s.get("country"),
                address=s.get("address"), id_type=s.get("id_type"),
                id_number=s.get("id_number"), date_of_birth=s.get("date_of_birth"),
                place_of_birth=s.get("place_of_birth"), phone=s.get("phone")),
            creditor=pacs008.Party(
                name=b.get("name", ""), account=b.get("account"),
                country=b.get("country") or self.partner.country, address=b.get("address"),
                phone=b.get("phone")),
            debtor_agent=self.hub, creditor_agent=self.agent,
            payout_method=payout.payout_method, purpose=payout.purpose,
            reference=payout.reference, receive_currency=payout.amount.currency)

    def payout_body(self, payout: Payout) -> bytes:
        return pacs008.build(self.credit_transfer(payout))

    async def submit_payout(self, payout: Payout, idempotency_key: str) -> PayoutResult:
        answer = await self._call("POST", "/iso20022/pacs.008", self.payout_body(payout),
                                  key=idempotency_key, retry_timeouts=False,
                                  content_type=CONTENT_TYPE)
        return self._iso_result(answer, payout, submit=True)

    async def query_status(self, payout: Payout, idempotency_key: str) -> PayoutResult:
        answer = await self._call("POST", "/iso20022/pacs.028",
                                  pacs028.build(payout.transfer_id), content_type=CONTENT_TYPE)
        return self._iso_result(answer, payout, submit=False)

    async def request_recall(self, payout: Payout, reason: str,
                             idempotency_key: str) -> RecallResult:
        """A send partner's recall as a camt.056 at `<endpoint>/iso20022/camt.056`; the
        bank answers with a pacs.002 about it: RJCT refuses (its reason kept), ACTC, PDNG
        and the like accept (its pacs.004 follows at EIG). One case id per recall."""
        body = camt056.build(transfer_id_=payout.transfer_id, amount=payout.amount,
                             reason=reason, hub_name=self.hub.name,
                             partner_name=self.partner.name, partner_bic=self.iso.bic)
        answer = await self._call("POST", "/iso20022/camt.056", body, key=idempotency_key,
                                  content_type=CONTENT_TYPE)
        if answer.status is None or answer.status >= 500 or answer.status in NOT_DEFINITE:
            return RecallResult("unknown", reason=f"{self.partner.id}: no answer")
        try:
            _, root = parse(answer.body, pacs002.MESSAGE)
        except MessageRefused as exc:
            log.warning("%s answered the recall of %s with no valid pacs.002: %s",
                        self.partner.id, payout.transfer_id, exc.detail)
            return RecallResult("unknown", reason=f"{self.partner.id}: no valid pacs.002")
        report = pacs002.read(root)
        if report.transfer_id not in (None, payout.transfer_id):
            return RecallResult("unknown", reason=f"{self.partner.id}: a pacs.002 about "
                                "another payout")
        if report.status == "RJCT":
            return RecallResult("refused", reason=failure_reason(
                self.partner.id, report.reason, report.info))
        return RecallResult("accepted")

    def _iso_result(self, answer: Answer, payout: Payout, submit: bool) -> PayoutResult:
        status = answer.status
        if status is None or status >= 500 or status in NOT_DEFINITE:
            why = "timed out" if answer.timed_out else (
                f"HTTP {status}" if status is not None else "no connection")
            return PayoutResult("unknown", reason=f"{self.partner.id}: {why}")
        try:
            _, root = parse(answer.body, pacs002.MESSAGE)
        except MessageRefused as exc:
            log.warning("%s answered %s with no valid pacs.002: %s", self.partner.id,
                        payout.transfer_id, exc.detail)
            if submit and 400 <= status < 500:
                return PayoutResult("failed", reason=f"refused by {self.partner.id}: "
                                    f"HTTP {status}")
            return PayoutResult("unknown", reason=f"{self.partner.id}: no valid pacs.002")
        report = pacs002.read(root)
        if report.transfer_id not in (None, payout.transfer_id):
            log.warning("%s answered %s with a pacs.002 about %s", self.partner.id,
                        payout.transfer_id, report.transfer_id)
            return PayoutResult("unknown", reason=f"{self.partner.id}: a pacs.002 about "
                                "another payout")
        if report.status == "RJCT" and report.reason == NOT_FOUND and not submit:
            return PayoutResult("not_found")
        outcome = report.outcome
        if outcome is None:
            return PayoutResult("unknown", reason=f"{self.partner.id}: status "
                                f"{report.status!r} is not one Corridor knows")
        reason = None
        if outcome == "failed":
            reason = failure_reason(self.partner.id, report.reason, report.info)
        return PayoutResult(outcome, partner_reference=report.partner_reference,  # type: ignore[arg-type]  # codes.Outcome is a subset of PayoutResult's Literal
                            reason=reason)


register("iso20022",
         lambda site, partner, settings: Iso20022Connector(site, partner, Timing.of(settings)))
