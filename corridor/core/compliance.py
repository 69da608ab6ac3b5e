"""Compliance rules: required KYC (FATF Recommendation 16), sanctions screening with fuzzy
name matching, and per-sender daily limits."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from corridor.core.counterparty import Counterparty
from corridor.core.errors import InvalidInput

Party = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class KycRule:
    """The fields a corridor requires beyond the baseline (hub.yaml's `compliance.kyc`)."""

    corridor: str
    sender: tuple[str, ...]
    beneficiary: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SanctionsEntry:
    id: str
    name: str
    aliases: tuple[str, ...]
    country: str
    program: str
    source: str  # "sanctions/demo-list.csv:3"


def check_kyc(rules: Mapping[str, KycRule], corridor: str, sender: Party,
              beneficiary: Party) -> None:
    """Raise InvalidInput (code `missing_kyc`, with an `errors` list) naming every missing
    field. Baseline (FATF R.16): the originator's name, account, and address or national
    ID or date and place of birth; the beneficiary's name and account. `rules` (corridor
    -> rule) may require more."""
    has_s, has_b = _filled(sender), _filled(beneficiary)
    rule = rules.get(corridor)
    located = _located(has_s)
    if (located and has_s >= _NAMED and has_b >= _NAMED
            and (rule is None or (has_s.issuperset(rule.sender)
                                  and has_b.issuperset(rule.beneficiary)))):
        return  # the usual case, decided without building the list of what is missing
    missing = [f"sender.{f}" for f in _NAMED_ORDER if f not in has_s]
    if not located:
        missing.append("sender.address (or sender.id_type and sender.id_number, or "
                       "sender.date_of_birth and sender.place_of_birth)")
    missing += [f"beneficiary.{f}" for f in _NAMED_ORDER if f not in has_b]
    if rule is not None:
        missing += [f"sender.{f}" for f in rule.sender if f not in has_s]
        missing += [f"beneficiary.{f}" for f in rule.beneficiary if f not in has_b]
    if missing:
        unique = list(dict.fromkeys(missing))
        raise InvalidInput(
            f"missing KYC for corridor {corridor}: {', '.join(unique)}",
            code="missing_kyc",
            errors=[{"field": f, "message": "required"} for f in unique],
        )


_NAMED_ORDER = ("name", "account")  # what both parties must give, in message order
_NAMED = frozenset(_NAMED_ORDER)


# What locates the originator: any one of these groups, every field of it.
LOCATED_BY = (("address",), ("id_type", "id_number"), ("date_of_birth", "place_of_birth"))


def _located(sender: set[str]) -> bool:
    """Does the originator give an address, or an ID, or a date and place of birth?"""
    return any(sender.issuperset(group) for group in LOCATED_BY)


def required_fields(rules: Mapping[str, KycRule], corridor: str
                    ) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """What `check_kyc` requires on a corridor, as the catalogue states it: the sender's
    fields, the groups one of which locates the sender, the beneficiary's fields."""
    rule = rules.get(corridor)
    extra_s, extra_b = (rule.sender, rule.beneficiary) if rule else ((), ())
    sender = tuple(dict.fromkeys((*_NAMED_ORDER, *extra_s)))
    beneficiary = tuple(dict.fromkeys((*_NAMED_ORDER, *extra_b)))
    return sender, LOCATED_BY, beneficiary


def _filled(party: Party) -> set[str]:
    """The fields of `party` that hold a non-blank string."""
    return {k for k, v in party.items() if isinstance(v, str) and v.strip()}


@dataclass(frozen=True, slots=True)
class Hit:
    party: str  # "sender" or "beneficiary"
    entry_id: str
    entry_name: str
    matched_name: str  # the list name or alias that matched
    score: int  # 0-100
    source: str  # list file and line


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=65_536)
def normalise(name: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces: "Hasán  Al-Faridi" ->
    "hasan al faridi". (Cached: each transfer normalises both names for screening and the
    sender's name again for its key, and names recur.)"""
    if name.isascii():  # most names: nothing to decompose, no accents to strip
        text = name.lower()
    else:
        text = unicodedata.normalize("NFKD", name)
        text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(_NOT_ALNUM.sub(" ", text).split())


class Screener:
    """Screens names against the site's sanctions lists. Token-sort ratio tolerates word
    order and small spelling differences; a score at or above `threshold` is a hit."""

    def __init__(self, entries: Iterable[SanctionsEntry], threshold: int) -> None:
        self.threshold = threshold
        self._names: list[str] = []
        self._entries: list[tuple[SanctionsEntry, str]] = []
        for entry in entries:
            for name in (entry.name, *entry.aliases):
                self._names.append(normalise(name))
                self._entries.append((entry, name))
        self._cache: dict[str, tuple[int, int] | None] = {}

    def screen(self, party: str, name: str) -> Hit | None:
        key = normalise(name)
        found = self._cache.get(key, ...)
        if found is ...:
            best = process.extractOne(
                key, self._names, scorer=fuzz.token_sort_ratio, score_cutoff=self.threshold
            ) if self._names and key else None
            found = (int(best[1]), best[2]) if best else None
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = found
        if found is None:
            return None
        score, index = found
        entry, matched = self._entries[index]
        return Hit(party, entry.id, entry.name, matched, score, entry.source)

    def screen_transfer(self, sender_name: str, beneficiary_name: str) -> Hit | None:
        return self.screen("sender", sender_name) or self.screen("beneficiary", beneficiary_name)


def sender_key(partner_id: str, sender: Party) -> str:
    """A stable pseudonymous key for one sender at one partner (daily limits, structuring
    detection) that carries no readable personal data."""
    ident = sender.get("id_number") or sender.get("account") or ""
    text = f"{partner_id}|{normalise(str(sender.get('name', '')))}|{ident}"
    return hashlib.sha256(text.encode()).hexdigest()


def exceeds_daily(partner: Counterparty, amount_minor: int, day_total_minor: int) -> bool:
    """Would this transfer take the sender past the partner's per-sender daily limit?"""
    limit = partner.limits.per_sender_daily
    return limit is not None and day_total_minor + amount_minor > limit
