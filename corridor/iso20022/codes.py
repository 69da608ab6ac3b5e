"""The one table between Corridor's codes and ISO 20022's (ExternalStatusReason1Code of
the external code sets, and the pacs.002 transaction statuses).

`REASONS` maps a Corridor problem `code` (a refusal the hub answers) or payout failure
reason to the ISO reason code a pacs.002 RJCT carries; `FAILURES` maps the reason code a
receive partner rejects a payout with to the code Corridor records as the payout's
failure. docs/iso20022.md prints both tables.
"""

from __future__ import annotations

from typing import Literal

# pacs.002 TxSts -> what it means for a payout (ExternalPaymentTransactionStatus1Code).
Outcome = Literal["completed", "failed", "pending"]
STATUSES: dict[str, Outcome] = {
    "ACSC": "completed",  # AcceptedSettlementCompleted: the creditor's account is credited
    "ACCC": "completed",  # AcceptedCreditSettlementCompleted
    "RJCT": "failed",  # Rejected
    "ACSP": "pending",  # AcceptedSettlementInProcess
    "ACTC": "pending",  # AcceptedTechnicalValidation
    "ACCP": "pending",  # AcceptedCustomerProfile
    "ACWC": "pending",  # AcceptedWithChange
    "PDNG": "pending",  # Pending
    "RCVD": "pending",  # Received
}

# A transfer's state -> the pacs.002 TxSts a bank send partner hears (its answer to a
# pacs.008, and every sender callback).
STATE_STATUS: dict[str, str] = {
    "RECEIVED": "RCVD",
    "ACCEPTED": "ACSP",
    "SUBMITTED": "ACSP",
    "UNKNOWN": "ACSP",
    "COMPLIANCE_HOLD": "PDNG",
    "COMPLETED": "ACSC",
    "FAILED": "RJCT",
    "REJECTED": "RJCT",
    "CANCELLED": "RJCT",
    "RETURNED": "ACSC",  # settled, then given back: the bank hears a pacs.004 (sender.py)
}

# Corridor problem code -> ISO status reason code of the pacs.002 RJCT that answers it.
REASONS: dict[str, str] = {
    "malformed_xml": "FF01",  # InvalidFileFormat
    "xml_forbidden": "FF01",  # a DOCTYPE, entity or external reference: refused unread
    "wrong_message": "FF01",  # not the message (or version) this endpoint takes
    "schema_invalid": "CH16",  # ElementContentFormallyIncorrect
    "invalid_amount": "AM12",  # InvalidAmount (e.g. more decimals than the currency has)
    "unknown_currency": "AM03",  # NotAllowedCurrency
    "currency_not_supported": "AM03",
    "payout_method_not_supported": "AG03",  # TransactionNotSupported
    "not_your_transfer": "AG01",  # TransactionForbidden: another partner's payout
    "role_not_allowed": "AG01",
    "bad_signature": "AG01",
    "signature_missing": "AG01",
    "signature_stale": "AG01",
    "transfer_not_found": "AGNT",  # IncorrectAgent: no payout of ours has that id
    "not_found": "AGNT",
    "no_transaction": "CH16",  # a status report that reports on no transaction
    "unknown_status": "CH16",  # a TxSts Corridor does not know
    "already_paid": "AM05",
    "idempotency_conflict": "AM05",  # Duplication
    "duplicate_reference": "AM05",
    "idempotency_key_missing": "FF01",
    "idempotency_key_invalid": "FF01",
    "body_too_large": "FF01",
    "unsupported_media_type": "FF01",
    "rate_limited": "MS03",
    "invalid_request": "CH16",
    "iso20022_not_enabled": "AG01",
    "not_a_send_partner": "AG01",
    "insufficient_funds": "AM04",  # InsufficientFunds: the send partner's float
    "limit_exceeded": "AM02",  # NotAllowedAmount
    "amount_too_small": "AM02",
    "missing_kyc": "RR01",  # MissingDebtorAccountOrIdentification
    "compliance_rejected": "RR04",  # RegulatoryReason
    "sanctions_hit": "RR04",
    "no_route": "AG03",  # TransactionNotSupported: no receive partner for that corridor
    "quote_expired": "AB01",  # AbortedClearingTimeout
    "payout_failed": "NARR",
    "cancelled": "NARR",
    # returns and recalls
    "already_returned": "AM05",  # a second return of the same payout: never booked twice
    "not_completed": "AG01",  # a return (or recall) of a payout that is not COMPLETED
    "no_recall": "AG01",  # a recall's refusal for a transfer nobody recalled
    "return_amount": "AM09",  # WrongAmount: only a whole payout comes back
    "already_recalled": "AM05",
    "reason_required": "CH16",
}
DEFAULT_REASON = "MS03"  # NotSpecifiedReasonAgentGenerated

# ISO reason code of a receive partner's RJCT -> the failure code Corridor records.
FAILURES: dict[str, str] = {
    "AC01": "account_invalid",  # IncorrectAccountNumber
    "AC03": "account_invalid",  # InvalidCreditorAccountNumber
    "AC04": "account_closed",  # ClosedAccountNumber
    "AC06": "account_blocked",  # BlockedAccount
    "AG01": "payout_forbidden",  # TransactionForbidden
    "AG03": "payout_method_not_supported",
    "AM03": "currency_not_supported",
    "AM05": "duplicate",
    "AM12": "invalid_amount",
    "BE01": "beneficiary_mismatch",  # InconsistentWithEndCustomer
    "RR04": "regulatory",  # RegulatoryReason
    "FF01": "message_refused",
    "CH16": "message_refused",
    "NARR": "partner_refused",
    "MS03": "partner_refused",
}
DEFAULT_FAILURE = "partner_refused"

# The reason code of a receive bank's pacs.004 (ExternalReturnReason1Code) -> the code a
# RETURNED transfer keeps; the return's words are kept beside it.
RETURNS: dict[str, str] = {
    "AC01": "account_invalid",
    "AC04": "account_closed",
    "AC06": "account_blocked",
    "BE01": "beneficiary_mismatch",
    "CUST": "recalled",  # RequestedByCustomer: the answer to a recall (camt.056)
    "DUPL": "duplicate",
    "FOCR": "recalled",  # FollowingCancellationRequest
    "FRAD": "fraud",
    "MD06": "recalled",  # RefundRequestByEndCustomer
    "RR04": "regulatory",
}
DEFAULT_RETURN = "returned"

# The Prtry status reason of a pacs.002 answering a pacs.028 about a payout the partner
# never received: the hub may submit it again (JSON: 404).
NOT_FOUND = "NOTFOUND"


def iso_reason(code: str) -> str:
    """The ISO status reason code for a Corridor problem code."""
    return REASONS.get(code, DEFAULT_REASON)


def failure_of(reason: str | None) -> str:
    """The Corridor failure code for a receive partner's ISO reason code."""
    return FAILURES.get(reason or "", DEFAULT_FAILURE)


def failure_reason(partner_id: str, code: str | None, info: str | None) -> str:
    """What a payout rejected by an ISO partner records as its reason: Corridor's failure
    code, the ISO reason code, the partner's words."""
    text = f"{failure_of(code)} (ISO {code or 'none'}) from {partner_id}"
    return f"{text}: {info[:200]}" if info else text


def reason_for_failure(text: str | None) -> str:
    """The ISO reason code a simulated or forwarded failure is reported with."""
    if text and text.startswith("no wallet"):
        return "AC01"
    if text and "frozen" in text:
        return "AC06"
    return "NARR"


def return_of(reason: str | None) -> str:
    """The Corridor code a returned transfer keeps for a pacs.004 reason code."""
    return RETURNS.get(reason or "", DEFAULT_RETURN)
