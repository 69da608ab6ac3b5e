"""The receive partner's wallet book: a deterministic set of demo wallets with holder
names, balances and credit history, plus the name-match score a validation returns.

The same generator gives the send-partner driver its beneficiaries, so both simulators
agree on which accounts exist without sharing a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from corridor.core.compliance import normalise

# Calling codes of the demo countries; wallet numbers are phone numbers there.
_DIAL = {"KE": "2547", "PH": "639", "IN": "919", "AE": "9715", "NG": "2348", "GH": "2332"}

_FIRST = (
    "John", "Mary", "Peter", "Grace", "James", "Faith", "David", "Mercy", "Joseph", "Esther",
    "Daniel", "Ann", "Samuel", "Joyce", "Paul", "Lucy", "Brian", "Naomi", "Kevin", "Ruth",
)
_LAST = (
    "Kamau", "Wanjiru", "Otieno", "Achieng", "Mwangi", "Njeri", "Kiptoo", "Chebet", "Ochieng",
    "Wambui", "Mutua", "Nyambura", "Kariuki", "Atieno", "Kimani", "Jeptoo", "Omondi", "Muthoni",
    "Kibet", "Awino",
)
DEMO_WALLETS = len(_FIRST) * len(_LAST)  # 400
FROZEN_SLOT = 999_999  # the last account of the book is frozen: a credit to it fails


def wallet_account(country: str, slot: int) -> str:
    """The wallet number of `slot` (1-based) in `country`: "254700000001" for KE, slot 1."""
    return f"{_DIAL.get(country, '0')}{slot:08d}"


def holder_name(slot: int) -> str:
    """The holder of wallet `slot`, as the partner's records spell it (upper case)."""
    if slot == FROZEN_SLOT:
        return "FROZEN ACCOUNT HOLDER"
    i = (slot - 1) % DEMO_WALLETS
    return f"{_FIRST[i % len(_FIRST)]} {_LAST[i // len(_FIRST)]}".upper()


def demo_wallets(country: str, count: int = DEMO_WALLETS) -> Iterator[tuple[str, str]]:
    """(account, holder name) of the first `count` wallets, then the frozen one."""
    for slot in range(1, count + 1):
        yield wallet_account(country, slot), holder_name(slot)
    yield wallet_account(country, FROZEN_SLOT), holder_name(FROZEN_SLOT)


def name_score(expected: str, holder: str) -> int:
    """0-100 similarity of the name a sender gave and the holder's, ignoring case, accents,
    punctuation and word order."""
    return round(fuzz.token_sort_ratio(normalise(expected), normalise(holder)))


@dataclass(slots=True)
class Credit:
    payout_id: str
    amount: int  # minor units of the wallet's currency
    at: str
    partner_reference: str


@dataclass(slots=True)
class Wallet:
    account: str
    holder: str
    currency: str
    frozen: bool = False
    balance: int = 0  # minor units
    credits: list[Credit] = field(default_factory=list)


class WalletBook:
    """Wallets by account number. Crediting is synchronous and has no await inside, so on
    the simulator's event loop a credit and the record of it can never be split."""

    def __init__(self, country: str, currency: str, count: int = DEMO_WALLETS) -> None:
        self.currency = currency
        frozen = wallet_account(country, FROZEN_SLOT)
        self.wallets = {
            account: Wallet(account, name, currency, frozen=account == frozen)
            for account, name in demo_wallets(country, count)
        }

    def get(self, account: str) -> Wallet | None:
        return self.wallets.get(account)

    def credit(self, account: str, credit: Credit) -> Wallet:
        wallet = self.wallets[account]
        wallet.balance += credit.amount
        wallet.credits.append(credit)
        return wallet

    def touched(self) -> list[Wallet]:
        """Wallets that received at least one credit (what a state file needs to keep)."""
        return [w for w in self.wallets.values() if w.credits]
