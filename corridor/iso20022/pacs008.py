"""pacs.008.001.08 FIToFICustomerCreditTransfer: a payout, built from what Corridor holds
(the FATF R.16 originator and beneficiary data of the transfer) and read back into the
same shape. docs/iso20022.md maps each field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from corridor.core.money import Money, format_minor, parse_minor
from corridor.iso20022.schema import namespace, serialise
from corridor.iso20022.tree import document, find, message_id, now_iso, sub, transfer_id

MESSAGE = "pacs.008.001.08"
NS = namespace(MESSAGE)
_LINE = 70  # AdrLine is Max70Text, at most 7 lines
SOF = "/SOF/"  # the remittance line that carries the source of funds


@dataclass(frozen=True, slots=True)
class Party:
    """A debtor (the sender) or creditor (the beneficiary)."""

    name: str
    account: str | None = None
    country: str | None = None
    address: str | None = None  # free text: AdrLine; the country is structured (Ctry)
    id_type: str | None = None
    id_number: str | None = None
    date_of_birth: str | None = None
    place_of_birth: str | None = None
    phone: str | None = None  # CtctDtls/Othr (ChanlTp PHON): MobNb's pattern wants "+cc-n"


@dataclass(frozen=True, slots=True)
class Agent:
    """A financial institution: by BIC, else by clearing-system member id, else by name."""

    name: str
    bic: str | None = None
    clearing_id: str | None = None
    clearing_system: str | None = None  # ExternalClearingSystemIdentification1Code
    other_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    transfer_id: str
    amount: Money
    debtor: Party
    creditor: Party
    debtor_agent: Agent
    creditor_agent: Agent
    payout_method: str = "bank"
    purpose: str | None = None
    reference: str | None = None  # the send partner's reference, as remittance information
    receive_currency: str | None = None  # CdtrAcct/Ccy: the currency the creditor is paid in
    source_of_funds: str | None = None  # remittance line "/SOF/<text>"
    message_id: str | None = None  # read: the message's MsgId
    end_to_end_id: str | None = None  # read: as the originator gave them
    tx_id: str | None = None


def build(ct: CreditTransfer, created: str | None = None) -> bytes:
    """The pacs.008 of one payout, validated against its XSD. MsgId, InstrId, EndToEndId
    and TxId all derive from the transfer id: one message id per payout, whatever the
    retry."""
    root, msg = document(NS, "FIToFICstmrCdtTrf")
    ident = message_id(ct.transfer_id)
    hdr = sub(msg, NS, "GrpHdr")
    sub(hdr, NS, "MsgId", ident)
    sub(hdr, NS, "CreDtTm", created or now_iso())
    sub(hdr, NS, "NbOfTxs", "1")
    sub(sub(hdr, NS, "SttlmInf"), NS, "SttlmMtd", "INDA")
    tx = sub(msg, NS, "CdtTrfTxInf")
    pmt = sub(tx, NS, "PmtId")
    sub(pmt, NS, "InstrId", ident)
    sub(pmt, NS, "EndToEndId", ident)
    sub(pmt, NS, "TxId", ident)
    sub(tx, NS, "IntrBkSttlmAmt", format_minor(ct.amount.minor, ct.amount.currency),
        Ccy=ct.amount.currency)
    sub(tx, NS, "IntrBkSttlmDt", datetime.now(UTC).date().isoformat())
    sub(tx, NS, "ChrgBr", "DEBT")  # the sender paid the hub's fee: the amount arrives whole
    _agent(sub(tx, NS, "InstgAgt"), ct.debtor_agent)
    _agent(sub(tx, NS, "InstdAgt"), ct.creditor_agent)
    _party(sub(tx, NS, "Dbtr"), ct.debtor)
    if ct.debtor.account:
        _account(sub(tx, NS, "DbtrAcct"), ct.debtor.account, None)
    _agent(sub(tx, NS, "DbtrAgt"), ct.debtor_agent)
    _agent(sub(tx, NS, "CdtrAgt"), ct.creditor_agent)
    _party(sub(tx, NS, "Cdtr"), ct.creditor)
    if ct.creditor.account:
        _account(sub(tx, NS, "CdtrAcct"), ct.creditor.account, ct.payout_method,
                 ct.receive_currency)
    if ct.purpose:
        sub(sub(tx, NS, "Purp"), NS, "Prtry", ct.purpose[:35])
    if ct.reference or ct.source_of_funds:
        rmt = sub(tx, NS, "RmtInf")
        if ct.reference:
            sub(rmt, NS, "Ustrd", ct.reference[:140])
        if ct.source_of_funds:
            sub(rmt, NS, "Ustrd", (SOF + ct.source_of_funds)[:140])
    return serialise(MESSAGE, root)


def _agent(el: Any, agent: Agent) -> None:
    fin = sub(el, NS, "FinInstnId")
    if agent.bic:
        sub(fin, NS, "BICFI", agent.bic)
    if agent.clearing_id:
        member = sub(fin, NS, "ClrSysMmbId")
        if agent.clearing_system:
            sub(sub(member, NS, "ClrSysId"), NS, "Cd", agent.clearing_system)
        sub(member, NS, "MmbId", agent.clearing_id)
    sub(fin, NS, "Nm", agent.name[:140])
    if agent.other_id:
        sub(sub(fin, NS, "Othr"), NS, "Id", agent.other_id[:35])


def _party(el: Any, party: Party) -> None:
    sub(el, NS, "Nm", party.name[:140])
    if party.country or party.address:
        adr = sub(el, NS, "PstlAdr")
        if party.country:
            sub(adr, NS, "Ctry", party.country)
        text = party.address or ""
        for start in range(0, min(len(text), 7 * _LINE), _LINE):
            sub(adr, NS, "AdrLine", text[start:start + _LINE])
    birth = party.date_of_birth and party.place_of_birth and party.country
    if birth or party.id_number:
        prvt = sub(sub(el, NS, "Id"), NS, "PrvtId")
        if birth:
            dob = sub(prvt, NS, "DtAndPlcOfBirth")
            sub(dob, NS, "BirthDt", party.date_of_birth)
            sub(dob, NS, "CityOfBirth", (party.place_of_birth or "")[:35])
            sub(dob, NS, "CtryOfBirth", party.country)
        if party.id_number:
            other = sub(prvt, NS, "Othr")
            sub(other, NS, "Id", party.id_number[:35])
            if party.id_type:
                sub(sub(other, NS, "SchmeNm"), NS, "Prtry", party.id_type[:35])
    if party.country:
        sub(el, NS, "CtryOfRes", party.country)
    if party.phone:
        other = sub(sub(el, NS, "CtctDtls"), NS, "Othr")
        sub(other, NS, "ChanlTp", "PHON")
        sub(other, NS, "Id", party.phone[:128])


def _account(el: Any, account: str, kind: str | None, currency: str | None = None) -> None:
    sub(sub(sub(el, NS, "Id"), NS, "Othr"), NS, "Id", account[:34])
    if kind:
        sub(sub(el, NS, "Tp"), NS, "Prtry", kind[:35])
    if currency:
        sub(el, NS, "Ccy", currency)


def read(root: Any) -> CreditTransfer:
    """The payout a (valid) pacs.008 asks for. Its amount is refused (`invalid_amount`)
    with more decimals than its currency has, never rounded."""
    msg = root[0]
    tx = msg.find(f"{{{NS}}}CdtTrfTxInf")
    amount_el = tx.find(f"{{{NS}}}IntrBkSttlmAmt")
    currency = amount_el.get("Ccy")
    minor = parse_minor(amount_el.text.strip(), currency)
    ident = find(tx, NS, "PmtId/TxId") or find(tx, NS, "PmtId/EndToEndId") or ""
    lines = [u.text or "" for u in tx.findall(f"{{{NS}}}RmtInf/{{{NS}}}Ustrd")]
    sof = next((u[len(SOF):] for u in lines if u.startswith(SOF)), None)
    reference = next((u for u in lines if not u.startswith(SOF)), None)
    return CreditTransfer(
        transfer_id=transfer_id(ident) or ident,
        amount=Money(minor, currency),
        debtor=_read_party(tx, "Dbtr", "DbtrAcct"),
        creditor=_read_party(tx, "Cdtr", "CdtrAcct"),
        debtor_agent=_read_agent(tx, "DbtrAgt"),
        creditor_agent=_read_agent(tx, "CdtrAgt"),
        payout_method=find(tx, NS, "CdtrAcct/Tp/Prtry") or "bank",
        purpose=find(tx, NS, "Purp/Prtry") or find(tx, NS, "Purp/Cd"),
        reference=reference, source_of_funds=sof,
        receive_currency=find(tx, NS, "CdtrAcct/Ccy"),
        message_id=find(msg, NS, "GrpHdr/MsgId"),
        end_to_end_id=find(tx, NS, "PmtId/EndToEndId"), tx_id=find(tx, NS, "PmtId/TxId"),
    )


def _read_party(tx: Any, tag: str, account_tag: str) -> Party:
    el = tx.find(f"{{{NS}}}{tag}")
    lines = el.findall(f"{{{NS}}}PstlAdr/{{{NS}}}AdrLine")
    return Party(
        name=find(el, NS, "Nm") or "",
        account=find(tx, NS, f"{account_tag}/Id/Othr/Id") or find(tx, NS, f"{account_tag}/Id/IBAN"),
        country=find(el, NS, "PstlAdr/Ctry") or find(el, NS, "CtryOfRes"),
        address="".join(line.text or "" for line in lines) or None,
        id_type=find(el, NS, "Id/PrvtId/Othr/SchmeNm/Prtry"),
        id_number=find(el, NS, "Id/PrvtId/Othr/Id"),
        date_of_birth=find(el, NS, "Id/PrvtId/DtAndPlcOfBirth/BirthDt"),
        place_of_birth=find(el, NS, "Id/PrvtId/DtAndPlcOfBirth/CityOfBirth"),
        phone=find(el, NS, "CtctDtls/Othr/Id"),
    )


def _read_agent(tx: Any, tag: str) -> Agent:
    el = tx.find(f"{{{NS}}}{tag}")
    return Agent(name=find(el, NS, "FinInstnId/Nm") or "",
                 bic=find(el, NS, "FinInstnId/BICFI"),
                 clearing_id=find(el, NS, "FinInstnId/ClrSysMmbId/MmbId"),
                 clearing_system=find(el, NS, "FinInstnId/ClrSysMmbId/ClrSysId/Cd"),
                 other_id=find(el, NS, "FinInstnId/Othr/Id"))
